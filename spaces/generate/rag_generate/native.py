"""Native-code safety for llama.cpp: which model settings to use on this CPU, and a probe that
runs the first real decode in a child process, where a crash cannot take the Space down.

llama.cpp built on an Intel CPU with AMX (`amx_tile` in /proc/cpuinfo) repacks weights for its
AMX kernels, and that path segfaults on the first multi-token batch (upstream llama.cpp issue
20824, closed with no fix). `use_extra_bufts=False` in the model params skips every weight
repack, AMX included. A segfault cannot be caught in-process, so the chosen settings are tried
once in a child (`python -m rag_generate.native`), and the verdict is cached per model file,
llama-cpp-python version and CPU flags.

`choose_params` is pure and decides from the CPU flags alone; `probe` and `safe_params` do the I/O.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

AMX_FLAGS = frozenset({"amx_tile", "amx_int8", "amx_bf16"})
SETTING = "GENERATE_LLAMA_EXTRA_BUFFERS"
# Enough tokens for a multi-token batch through every layer: the AMX crash needs more than one.
PROBE_TEXT = " ".join(["The tide rises and falls twice a day because the moon pulls on the oceans."] * 8)
# Tests make the probe's child crash for real, to prove the Space survives it. Never a setting.
FAULT_ENV = "RAG_GENERATE_PROBE_FAULT"


@dataclass(frozen=True)
class LlamaParams:
    """The llama.cpp model settings this process uses, and why."""

    extra_buffers: bool  # llama_model_params.use_extra_bufts: weight repacking (AMX, CPU_REPACK)
    why: str

    @property
    def setting(self) -> str:
        return f"{SETTING}={'on' if self.extra_buffers else 'off'}"


def choose_params(flags: frozenset[str] | set[str], setting: str = "auto") -> LlamaParams:
    """The model settings for a CPU with these `flags`.

    Args:
        flags: the CPU's feature flags, as in /proc/cpuinfo.
        setting: GENERATE_LLAMA_EXTRA_BUFFERS: "auto" (default) turns weight repacking off on
            CPUs with AMX and keeps it elsewhere; "on" and "off" force it.
    """
    setting = (setting or "auto").strip().lower()
    if setting in ("on", "1", "true", "yes"):
        return LlamaParams(True, f"{SETTING}=on")
    if setting in ("off", "0", "false", "no"):
        return LlamaParams(False, f"{SETTING}=off")
    if setting != "auto":
        raise ValueError(f"{SETTING} must be auto, on or off, but got {setting!r}")
    amx = sorted(AMX_FLAGS & set(flags))
    if amx:
        return LlamaParams(
            False,
            f"this CPU has AMX ({' '.join(amx)}): llama.cpp's AMX weight repack crashes on it (llama.cpp issue 20824), so repacking is off",
        )
    return LlamaParams(True, "no AMX on this CPU: llama.cpp may repack weights for speed")


def safe_params(chosen: LlamaParams) -> LlamaParams | None:
    """The settings to retry with after `chosen` crashed; None when `chosen` already is the safe one."""
    if not chosen.extra_buffers:
        return None
    return LlamaParams(
        False, f"the probe crashed with weight repacking on, so it is off; set {SETTING}=off to skip the first try"
    )


@contextlib.contextmanager
def model_params(params: LlamaParams):
    """Make `llama_cpp.Llama(...)` load with `params` inside this block.

    Llama() builds its model params from `llama_model_default_params()` and has no argument for
    `use_extra_bufts`, so the defaults are changed for the length of one construction.
    """
    import llama_cpp.llama as llama_module

    lib = llama_module.llama_cpp
    with _params_lock:
        original = lib.llama_model_default_params
        if not hasattr(original(), "use_extra_bufts"):
            if not params.extra_buffers:
                log.warning("this llama-cpp-python has no use_extra_bufts; weight repacking cannot be turned off")
            yield
            return

        def patched():
            p = original()
            p.use_extra_bufts = params.extra_buffers
            return p

        lib.llama_model_default_params = patched
        try:
            yield
        finally:
            lib.llama_model_default_params = original


_params_lock = threading.Lock()


# -- the probe ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    params: LlamaParams
    detail: str  # "decoded N tokens", or how it died
    cached: bool = False


def describe_exit(code: int) -> str:
    """A process exit code in words: a negative code is the signal that killed it."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        what = {
            "SIGSEGV": "a segmentation fault in native code",
            "SIGKILL": "killed, often for lack of memory",
            "SIGABRT": "aborted by native code",
            "SIGILL": "an instruction this CPU does not have",
        }
        return f"exit code {code}, {name}: {what.get(name, 'killed by a signal')}"
    return f"exit code {code}"


def _llama_version() -> str:
    try:
        from importlib.metadata import version

        return version("llama_cpp_python")
    except Exception:
        return "unknown"


def probe_key(model_path: str, params: LlamaParams, flags: frozenset[str]) -> str:
    st = os.stat(model_path)
    parts = [
        os.path.realpath(model_path),
        str(st.st_size),
        str(int(st.st_mtime)),
        _llama_version(),
        " ".join(sorted(flags)),
        str(params.extra_buffers),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _probe_command(model_path: str, params: LlamaParams, n_threads: int) -> dict:
    """`python -m rag_generate.native MODEL ...`, with this package importable in the child."""
    args = ["--extra-buffers", "on" if params.extra_buffers else "off", "--threads", str(n_threads)]
    package_dir = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [package_dir, os.environ.get("PYTHONPATH", "")]))
    return {
        "args": [sys.executable, "-m", "rag_generate.native", model_path, *args],
        "env": {**os.environ, "PYTHONPATH": path},
    }


def probe(
    model_path: str,
    params: LlamaParams,
    *,
    cache_dir: str,
    flags: frozenset[str],
    n_threads: int = 1,
    timeout_s: float = 120,
) -> ProbeResult:
    """Load `model_path` with `params` in a child process and decode a multi-token batch.

    A verdict (it decoded, or it died by a signal) is cached in `cache_dir`, so a Space pays
    for the probe once per model file, llama-cpp-python version and CPU. A timeout or a Python
    error is not cached: it may not happen again.
    """
    key = probe_key(model_path, params, flags)
    cache = Path(cache_dir) / "llama_probes.json"
    seen = _read_json(cache)
    if key in seen:
        return ProbeResult(seen[key]["ok"], params, seen[key]["detail"], cached=True)
    try:
        done = subprocess.run(
            **_probe_command(model_path, params, n_threads), capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return ProbeResult(False, params, f"the probe did not finish within {timeout_s:.0f} s")
    if done.returncode == 0:
        result = ProbeResult(True, params, done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "decoded")
    else:
        tail = " ".join(done.stderr.strip().splitlines()[-2:])[-300:]
        result = ProbeResult(
            False, params, describe_exit(done.returncode) + (f" ({tail})" if tail and done.returncode > 0 else "")
        )
    if result.ok or done.returncode < 0:
        seen[key] = {"ok": result.ok, "detail": result.detail, "params": asdict(params)}
        _write_json(cache, seen)
    return result


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.part")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not cache the llama.cpp probe verdict in %s (%s)", path, exc)


@dataclass(frozen=True)
class NativeReport:
    """What the probes found: the settings to load with (None: every try crashed), and the story."""

    params: LlamaParams | None
    tries: tuple[ProbeResult, ...]

    def summary(self) -> str:
        lines = []
        for t in self.tries:
            state = "passed" if t.ok else f"crashed: {t.detail}"
            lines.append(
                f"repacking {'on' if t.params.extra_buffers else 'off'} {state}{' (cached)' if t.cached else ''}"
            )
        return "; ".join(lines)

    def as_dict(self) -> dict:
        return {
            "extra_buffers": None if self.params is None else self.params.extra_buffers,
            "why": None if self.params is None else self.params.why,
            "probe": self.summary(),
            "fell_back": len(self.tries) > 1,
        }


def settle(
    model_path: str, chosen: LlamaParams, *, cache_dir: str, flags: frozenset[str], n_threads: int = 1
) -> NativeReport:
    """Probe `chosen`; if its child crashes, probe the safe settings. The report says which survived."""
    tries = [probe(model_path, chosen, cache_dir=cache_dir, flags=flags, n_threads=n_threads)]
    if not tries[-1].ok and (safe := safe_params(chosen)) is not None:
        log.error(
            "llama.cpp probe with %s failed (%s); retrying with %s", chosen.setting, tries[-1].detail, safe.setting
        )
        tries.append(probe(model_path, safe, cache_dir=cache_dir, flags=flags, n_threads=n_threads))
    return NativeReport(tries[-1].params if tries[-1].ok else None, tuple(tries))


# -- the child ------------------------------------------------------------------------------------


def _child(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Load a GGUF and decode one multi-token batch; exit 0 if it survives.")
    ap.add_argument("model")
    ap.add_argument("--extra-buffers", choices=("on", "off"), default="on")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    params = LlamaParams(args.extra_buffers == "on", "probe")
    fault = os.environ.get(FAULT_ENV, "")
    if fault == "always" or (fault == "extra-buffers" and params.extra_buffers):
        import ctypes

        ctypes.string_at(0)  # a real SIGSEGV, as llama.cpp's AMX path gives
    from llama_cpp import Llama

    with model_params(params):
        llm = Llama(
            model_path=args.model,
            n_ctx=512,
            n_batch=512,
            n_threads=args.threads,
            n_threads_batch=args.threads,
            verbose=False,
        )
    tokens = llm.tokenize(PROBE_TEXT.encode(), add_bos=False, special=False)[:200]
    llm.eval(tokens)  # one batch of many tokens: where the AMX path dies
    llm.eval([tokens[0]])  # and one decode step
    print(f"decoded a {len(tokens)}-token batch and one step")
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))

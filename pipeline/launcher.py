"""Start the Spaces as child processes on loopback ports, wait until they answer, stop them cleanly.

Each Space runs exactly as it would on Hugging Face: `python app.py` from inside its
folder, configured by environment variables only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPACES_DIR = ROOT / "spaces"

# Default local ports of `python -m pipeline up`.
DEFAULT_PORTS = {"retrieve": 7861, "rerank": 7862, "generate": 7863}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def explain_exit(name: str, code: int) -> str:
    """Why a Space's process ended, and what to try, from its exit code."""
    if code < 0:
        try:
            sig = signal.Signals(-code).name
        except ValueError:
            sig = f"signal {-code}"
        if sig == "SIGSEGV":
            hint = " It crashed in native code (a segmentation fault)." + (
                " On Intel CPUs with AMX this is llama.cpp's AMX weight repack (llama.cpp issue 20824):"
                " set GENERATE_LLAMA_EXTRA_BUFFERS=off, or reinstall llama-cpp-python built with"
                ' CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON".'
                if name == "generate"
                else " Reinstall its native packages (make clean && make install); the log below shows where."
            )
        elif sig == "SIGKILL":
            hint = " It was killed, most often by the kernel for lack of memory: close other programs or lower its model size."
        elif sig == "SIGILL":
            hint = " It ran an instruction this CPU lacks: a native package was built for another CPU; make clean && make install rebuilds it here."
        else:
            hint = " It was stopped by a signal."
        return f"exit code {code} ({sig}).{hint}"
    if code == 1:
        return "exit code 1: a Python error, shown in its last output below."
    return f"exit code {code}."


@dataclass
class Service:
    """One Space in a child process.

    Args:
        name: the Space folder under spaces/ (retrieve, rerank, generate).
        port: the loopback port; 0 picks a free one.
        env: extra environment variables for the child.
        log_path: where its output goes; None inherits the parent's terminal.
    """

    name: str
    port: int = 0
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    proc: subprocess.Popen | None = None

    def __post_init__(self):
        self.port = self.port or free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> "Service":
        """Start the Space; if it is already running, do nothing (a second copy could not bind its port)."""
        if self.running:
            return self
        env = {**os.environ, **self.env, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(self.port)}
        out = open(self.log_path, "ab") if self.log_path else None
        # A new session per child, so a stop reaches the whole process group.
        self.proc = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=SPACES_DIR / self.name,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
        )
        if out:
            out.close()
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "gradio_api/info", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 300) -> "Service":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"the {self.name} Space exited before answering: {explain_exit(self.name, self.proc.returncode)}{self._tail()}"
                )
            if self.answers():
                return self
            time.sleep(0.3)
        raise TimeoutError(f"the {self.name} Space did not answer at {self.url} within {timeout:.0f} s.{self._tail()}")

    def _tail(self) -> str:
        if self.log_path and Path(self.log_path).exists():
            return "\nLast output:\n" + Path(self.log_path).read_text(errors="replace")[-3000:]
        return ""

    def stop(self, grace: float = 10) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass


class Stack:
    """Several Services started together and stopped together (also on SIGTERM).

    Usage:
        with Stack([Service("retrieve", 7861), Service("rerank", 7862)]) as stack:
            print(stack.urls)

    Starting a started Stack is harmless (`Stack(...).start()` used in `with` starts once), and
    leaving the `with` block stops every Space it started.
    """

    def __init__(self, services: list[Service]):
        self.services = services

    @property
    def urls(self) -> dict[str, str]:
        return {s.name: s.url for s in self.services}

    def start(self, timeout: float = 300) -> "Stack":
        try:
            for s in self.services:
                s.start()
            for s in self.services:  # they load in parallel; wait for each
                s.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for s in reversed(self.services):
            s.stop()

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

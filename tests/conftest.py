"""Shared fixtures: the real packaged MiniLM, and real Space servers on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPACES = ROOT / "spaces"
for space in ("retrieve", "rerank", "generate"):
    if str(SPACES / space) not in sys.path:
        sys.path.insert(0, str(SPACES / space))

# No network in tests: the Hub is never reached, models come from local files.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SpaceServer:
    """A Space's `python app.py` in a child process, on a free loopback port."""

    def __init__(self, space: str, env: dict[str, str], log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        full_env = {**os.environ, **env, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(self.port)}
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=SPACES / space, env=full_env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait(self, timeout: float = 180) -> "SpaceServer":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "gradio_api/info", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"server did not answer within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture(scope="session")
def start_space(tmp_path_factory):
    servers: list[SpaceServer] = []

    def start(space: str, **env: str) -> SpaceServer:
        log = tmp_path_factory.mktemp("logs") / f"{space}.log"
        server = SpaceServer(space, env, log)
        servers.append(server)
        return server.wait()

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(scope="session")
def embedder():
    from rag_retrieve.embedder import SentenceTransformerEmbedder

    e = SentenceTransformerEmbedder()
    e.warm_up()
    return e

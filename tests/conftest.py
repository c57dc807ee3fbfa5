"""Shared fixtures: the real packaged MiniLM, and real Space servers on 127.0.0.1."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPACES = ROOT / "spaces"
sys.path.insert(0, str(ROOT))
from pipeline.launcher import Service  # noqa: E402
for space in ("retrieve", "rerank", "generate"):
    if str(SPACES / space) not in sys.path:
        sys.path.insert(0, str(SPACES / space))

# No network in tests: the Hub is never reached, models come from local files.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"


class SpaceServer(Service):
    """A Space under test: the launcher's Service with its output in a log file."""

    def log(self) -> str:
        return Path(self.log_path).read_text(errors="replace")[-5000:]


@pytest.fixture(scope="session")
def start_space(tmp_path_factory):
    servers: list[SpaceServer] = []

    def start(space: str, **env: str) -> SpaceServer:
        log = tmp_path_factory.mktemp("logs") / f"{space}.log"
        server = SpaceServer(space, env=env, log_path=log)
        servers.append(server)
        return server.start().wait_ready(180)

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(scope="session")
def embedder():
    from rag_retrieve.embedder import SentenceTransformerEmbedder

    e = SentenceTransformerEmbedder()
    e.warm_up()
    return e

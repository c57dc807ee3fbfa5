"""Shared fixtures: the real packaged MiniLM, and real Space servers on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.tiny_models import make_cross_encoder, make_gguf

ROOT = Path(__file__).resolve().parents[1]
SPACES = ROOT / "spaces"
from pipeline.launcher import Service, Stack  # noqa: E402

# No network in tests: the Hub is never reached, models come from local files.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"


# The `make check` tier: a test is pure unless it needs one of these (a server, a model file, a
# child process, a browser). Marked here, from the fixtures each test asks for, so that a new test
# lands in the right tier without anyone remembering to mark it.
NOT_PURE_FIXTURES = {
    "start_space",
    "start_module_space",
    "stack",
    "stack_env",
    "embedder",
    "minilm",
    "tiny_gguf",
    "tiny_ce",
    "llama",
    "ray_local",
    "hub",
    "stub",
}
NOT_PURE_MODULES = {
    "test_browser",
    "test_crash_safety",
    "test_deploy",
    "test_notebooks",
    "test_real_model",
    "test_native",
    "test_secrets",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        if module not in NOT_PURE_MODULES and not NOT_PURE_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.pure)


def space_processes() -> dict[int, str]:
    """Every running process that is one of our Spaces (`python app.py` inside spaces/<name>)."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            if b"app.py" in cmd and Path(os.readlink(proc / "cwd")).parent == SPACES:
                found[int(proc.name)] = Path(os.readlink(proc / "cwd")).name
        except OSError:
            continue
    return found


@pytest.fixture(scope="session", autouse=True)
def no_space_left_behind():
    """Every test, notebook and fixture that starts a Space stops it: checked once all are done.

    Set up first, so torn down last, after every other fixture has stopped its servers.
    """
    before = set(space_processes())
    yield
    deadline = time.monotonic() + 15
    while (left := {p: n for p, n in space_processes().items() if p not in before}) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    assert not left, f"Spaces left running after the tests: {left}"


@contextmanager
def chat_app(urls: dict[str, str], *, pipeline_kw: dict | None = None, api_key: str | None = "", **chat_kw):
    """The pipeline's chat server (the page, its MCP tool and the OpenAI routes, as `python -m
    pipeline up` serves them) on a free loopback port, over the given stages; yields its URL."""
    from pipeline import RAGPipeline
    from pipeline.chat import build_chat_app
    from pipeline.launcher import free_port
    from pipeline.server import ChatServer, chat_server_app

    rag = RAGPipeline(
        retrieve=urls["retrieve"], rerank=urls["rerank"], generate=urls["generate"], **(pipeline_kw or {})
    )
    server = ChatServer(chat_server_app(rag, build_chat_app(rag, **chat_kw), api_key=api_key), port=free_port())
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


class SpaceServer(Service):
    """A Space under test: the launcher's Service with its output in a log file."""

    def log(self) -> str:
        return Path(self.log_path).read_text(errors="replace")[-5000:]


@contextmanager
def space_starter(tmp_path_factory):
    """`start(space, **env)` starts a real Space and waits until it answers; all stop on exit."""
    servers: list[SpaceServer] = []

    def start(space: str, **env: str) -> SpaceServer:
        log = tmp_path_factory.mktemp("logs") / f"{space}.log"
        server = SpaceServer(space, env=env, log_path=log)
        servers.append(server)
        return server.start().wait_ready(180)

    try:
        yield start
    finally:
        for s in servers:
            s.stop()


@pytest.fixture
def start_space(tmp_path_factory):
    """Start Spaces for one test: they stop when the test ends."""
    with space_starter(tmp_path_factory) as start:
        yield start


@pytest.fixture(scope="module")
def start_module_space(tmp_path_factory):
    """Start Spaces that a module's tests share: they stop when the module ends."""
    with space_starter(tmp_path_factory) as start:
        yield start


@pytest.fixture(scope="session")
def embedder():
    from rag_retrieve.embedder import SentenceTransformerEmbedder

    e = SentenceTransformerEmbedder()
    e.warm_up()
    return e


# -- three real Spaces on 127.0.0.1: tiny cross-encoder, tiny GGUF, a four-file corpus --------

STACK_TOKEN = "stack-write-token"
CORPUS = {
    "tides.txt": "Tides are caused by the gravitational pull of the moon and the sun on the oceans.",
    "volcanoes.md": "# Volcanoes\n\nVolcanoes erupt when magma rises through the crust.",
    # The same article under another name (so another title): indexed twice, deduplicated by the pipeline.
    "mirror-tides.txt": "Tides are caused by the gravitational pull of the moon and the sun on the oceans.",
    "orbits.md": "# Orbits\n\nThe moon orbits the Earth about once every 27 days.",
}


def write_corpus(root: Path) -> Path:
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in CORPUS.items():
        (corpus / name).write_text(text)
    return corpus


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("stack")
    corpus = write_corpus(root)
    return {
        "RETRIEVE_CORPUS": str(corpus),
        "RETRIEVE_INDEX_DIR": str(root / "index"),
        "RERANK_MODEL": make_cross_encoder(root / "ce"),
        "GENERATE_MODEL_PATH": make_gguf(root / "tiny.gguf"),
        "GENERATE_N_CTX": "1024",
        "HF_TOKEN": "",
        "RETRIEVE_WRITE_TOKEN": STACK_TOKEN,
    }


@pytest.fixture(scope="module")
def stack(stack_env, tmp_path_factory):
    logs = tmp_path_factory.mktemp("stack-logs")
    s = Stack(
        [SpaceServer(name, env=stack_env, log_path=logs / f"{name}.log") for name in ("retrieve", "rerank", "generate")]
    )
    s.start(timeout=180)
    yield s
    s.stop()

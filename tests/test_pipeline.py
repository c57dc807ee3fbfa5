"""End to end across three real Spaces: RAGPipeline, the CLI, the chat UI, failures, shutdown."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client

from pipeline import RAGPipeline, StageError
from pipeline.launcher import free_port
from pipeline.render import details_markdown, sources_markdown
from tests.conftest import ROOT, STACK_TOKEN, chat_app
from tests.test_retrieve_ingest import make_pdf


@pytest.fixture(scope="module")
def rag(stack):
    u = stack.urls
    return RAGPipeline(retrieve=u["retrieve"], rerank=u["rerank"], generate=u["generate"], timeout=60)


def test_ask_returns_answer_sources_backend_and_timings(rag):
    answer = rag.ask("What causes tides?", k_retrieve=10, k_rerank=3, max_tokens=16, temperature=0.0)
    assert answer.text and answer.backend == "llama-cpp"
    assert answer.rerank_method.startswith("cross-encoder")
    texts = [s.text for s in answer.sources]
    assert len(texts) == len(set(texts)) <= 3  # the mirrored copy collapsed, once, by the rerank Space
    assert all(s.retrieve_score is not None and 0 <= s.rerank_score <= 1 for s in answer.sources)
    for key in ("retrieve_s", "rerank_s", "generate_s", "ttft_s", "total_s"):
        assert answer.timings[key] is not None and answer.timings[key] >= 0
    assert answer.timings["generate_server"]["ttft_s"] >= 0


def test_stream_gives_the_sources_first_then_the_whole_answer(rag):
    """What the pipeline yields is what arrives: the numbered sources before the model's first
    token, then the judged answer whole (the generate Space streams no partial text)."""
    events = list(rag.stream("What causes tides?", 10, 3, max_tokens=12, temperature=0.0))
    assert [e for e, _ in events] == ["sources", "done"]
    shown, answer = events[0][1], events[1][1]
    assert [s.id for s in shown] == [s.id for s in sorted(answer.sources, key=lambda s: s.n)]
    assert answer.text and answer.report.status == "done" and answer.report.verdict in ("answer", "likely", "not_found")


def test_history_reaches_the_generate_stage(rag):
    answer = rag.ask("And the sun?", 10, 3, history=[["What causes tides?", "The moon [1]."]], max_tokens=8)
    assert answer.info["history_messages_kept"] == 2


def test_a_follow_up_is_searched_with_the_document_the_conversation_is_about(rag):
    # The first question names nothing; the retrieve Space's best passage for it has the title "Volcanoes".
    history = [["What rises through the crust?", "Magma (source 1)."]]
    answer = rag.ask("How fast does it move?", 10, 3, history=history, max_tokens=8)
    assert answer.search_query == "What rises through the crust? How fast does it move? Volcanoes"
    assert answer.topic == "Volcanoes" and "its document, “Volcanoes”." in details_markdown(answer)
    assert "volcanoes.md" in {p.source for p in answer.sources}  # the order is the tiny reranker's
    alone = rag.ask("How fast does it move?", 10, 3, max_tokens=8)
    assert alone.search_query == "How fast does it move?" and not alone.topic  # a new conversation forgets


def test_the_details_say_when_the_model_was_not_asked():
    from rag_contract.answer_info import AnswerInfo

    from pipeline.rag import Answer

    timings = {"retrieve_s": 0.1, "rerank_s": 1.0, "generate_s": 0.5, "ttft_s": 1.6, "total_s": 1.6}
    settled = AnswerInfo(backend="llama-cpp", backend_label="tiny.gguf; not asked: …", model_asked=False)
    server = {"ttft_s": 0.4, "first_token_s": None, "total_s": 0.4, "decode_tok_s": None}
    shown = details_markdown(
        Answer("Tides … (source 1).", [], "llama-cpp", {**timings, "generate_server": server}, report=settled)
    )
    assert "the model was not asked" in shown and "not asked: …" in shown and "None" not in shown
    asked = {**server, "first_token_s": 0.9, "decode_tok_s": 60.0}
    shown = details_markdown(Answer("…", [], "llama-cpp", {**timings, "generate_server": asked}, report=AnswerInfo()))
    assert "the model's first token 0.9, 60.0 tok/s" in shown


def test_cli_ask_json(stack):
    u = stack.urls
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "ask",
            "What causes tides?",
            "--json",
            "--retrieve",
            u["retrieve"],
            "--rerank",
            u["rerank"],
            "--generate",
            u["generate"],
            "--max-tokens",
            "8",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert (
        set(data) >= {"answer", "sources", "backend", "timings"} and data["backend"] == "llama-cpp" and data["sources"]
    )


def test_cli_ask_prints_answer_sources_and_timings(stack):
    u = stack.urls
    env = {
        **os.environ,
        "PIPELINE_RETRIEVE_URL": u["retrieve"],
        "PIPELINE_RERANK_URL": u["rerank"],
        "PIPELINE_GENERATE_URL": u["generate"],
    }
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "ask", "What causes tides?", "--max-tokens", "8"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert (
        "Sources:" in out.stdout
        and "[1]" in out.stdout
        and "Backend: llama-cpp" in out.stdout
        and "Timings:" in out.stdout
    )


def test_chat_ui_answers_through_its_api(stack):
    with chat_app(stack.urls) as url:
        history, box, sources, details = Client(url, verbose=False).predict(
            "What causes tides?", [], 10, 3, 16, api_name="/chat"
        )
        assert history[-1]["role"] == "assistant" and history[-1]["content"]
        assert "**Source 1**" in sources and "Answered by:** `llama-cpp`" in details and box == ""
        assert "[1]" not in history[-1]["content"]  # our citations read "(source 1)", unlike a document's own "[1]"
        # The page's own history goes back as the Chatbot holds it; the follow-up is searched with it.
        history, _, _, details = Client(url, verbose=False).predict(
            "When are they strongest?", history, 10, 3, 16, api_name="/chat"
        )
        assert len(history) == 4 and "**Follow-up:** searched with your earlier question" in details


def test_your_own_pdf_upload_ask_delete(rag, tmp_path):
    pdf = tmp_path / "glaciers.pdf"
    pdf.write_bytes(
        make_pdf(
            ["Ice in motion: a short note."],
            ["Glaciers advance when snowfall exceeds melting for many years.", "They retreat when the climate warms."],
        )
    )
    report = rag.add_documents([str(pdf)], STACK_TOKEN)
    assert "Indexed 1 new chunks from 1 documents" in report
    listed = {r["source"]: r for r in rag.documents()}
    assert listed["glaciers.pdf"]["chunks"] == 1 and "tides.txt" in listed
    answer = rag.ask("When do glaciers advance?", 10, 3, max_tokens=16, temperature=0.0)
    assert answer.sources[0].source == "glaciers.pdf" and answer.info["grounding"]["candidate"].startswith(
        "Glaciers advance"
    )
    assert answer.sources[0].page == "1-2"  # the PDF's pages travel from ingest to the source card
    assert "page 1-2" in sources_markdown(answer.sources)
    with pytest.raises(StageError, match="Wrong write token"):
        rag.add_documents([str(pdf)], "not-the-token")
    assert rag.delete_source("glaciers.pdf", STACK_TOKEN) == "Removed 1 chunks of 'glaciers.pdf'."
    assert "glaciers.pdf" not in {r["source"] for r in rag.documents()}


def test_the_chat_page_never_holds_the_write_token(stack):
    with chat_app(stack.urls, write_token=STACK_TOKEN, examples=["What causes tides?"]) as url:
        pages = {
            p: urllib.request.urlopen(url + p, timeout=10).read().decode() for p in ("", "config", "gradio_api/info")
        }
        assert not [p for p, body in pages.items() if STACK_TOKEN in body]
        assert "What causes tides?" in pages["config"] and "Add to the index" in pages["config"]
        # Only `ask` is a documented endpoint: uploads and deletes are the page's, with its token.
        assert set(Client(url, verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"]) == {
            "/ask"
        }


def test_starting_a_started_stack_is_harmless(stack):
    pids = [s.proc.pid for s in stack.services]
    with stack.start() as again:  # the pattern that used to leave a second, dead set behind
        assert again is stack and [s.proc.pid for s in stack.services] == pids
        assert all(s.running and s.answers() for s in stack.services)
    assert not any(s.running for s in stack.services)  # leaving `with` stops them
    stack.start(timeout=180)  # the module's other tests need it back
    assert all(s.answers() for s in stack.services)


def test_a_killed_stage_gives_a_clear_error_and_recovers_after_restart(stack, rag):
    generate = next(s for s in stack.services if s.name == "generate")
    generate.stop()
    with pytest.raises(StageError, match=r"generate stage at http://127\.0\.0\.1:\d+/ failed"):
        rag.ask("What causes tides?", 10, 3, max_tokens=8)
    generate.start().wait_ready(180)
    assert rag.ask("What causes tides?", 10, 3, max_tokens=8).backend == "llama-cpp"


def test_a_dead_reranker_degrades_visibly(stack, rag):
    rerank = next(s for s in stack.services if s.name == "rerank")
    rerank.stop()
    try:
        answer = rag.ask("What causes tides?", 10, 2, max_tokens=8)
        assert answer.text and answer.rerank_method == "retrieval order (reranker unavailable)"
        assert any("Reranker unavailable" in n and "rerank stage" in n for n in answer.notes)
        assert all(s.rerank_score is None for s in answer.sources)
    finally:
        rerank.start().wait_ready(180)


def test_a_stage_that_never_answers_times_out():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never replies
    port = silent.getsockname()[1]
    try:
        rag = RAGPipeline(
            retrieve=f"http://127.0.0.1:{port}/",
            rerank=f"http://127.0.0.1:{port}/",
            generate=f"http://127.0.0.1:{port}/",
            timeout=2,
        )
        t = time.monotonic()
        with pytest.raises(StageError, match="retrieve stage"):
            rag.ask("anything")
        assert time.monotonic() - t < 30
    finally:
        silent.close()


def _children(pid: int) -> set[int]:
    kids = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            pass
    return kids


def _session_token(pids) -> str:
    for pid in pids:
        if Path(f"/proc/{pid}/cwd").resolve().name == "retrieve":
            env = dict(kv.split("=", 1) for kv in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in kv)
            return env["RETRIEVE_WRITE_TOKEN"]
    raise AssertionError("no retrieve Space among the children")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_pipeline_up_starts_everything_and_sigterm_leaves_no_orphans(stack_env, tmp_path):
    ports = [free_port() for _ in range(4)]
    env = {**os.environ, **stack_env, "RETRIEVE_INDEX_DIR": str(tmp_path / "index")}
    env.pop("RETRIEVE_WRITE_TOKEN")  # `up` makes one for the session
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "up",
            "--retrieve-port",
            str(ports[0]),
            "--rerank-port",
            str(ports[1]),
            "--generate-port",
            str(ports[2]),
            "--chat-port",
            str(ports[3]),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read():
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(240), "".join(lines)
        out = "".join(lines)
        for name, port in zip(("retrieve", "rerank", "generate", "chat"), ports):
            assert f"{name}" in out and f"http://127.0.0.1:{port}/" in out
        kids = _children(proc.pid)
        assert len(kids) == 3
        rag = RAGPipeline(
            retrieve=f"http://127.0.0.1:{ports[0]}/",
            rerank=f"http://127.0.0.1:{ports[1]}/",
            generate=f"http://127.0.0.1:{ports[2]}/",
        )
        answer = rag.ask("What causes tides?", max_tokens=8)
        assert answer.backend == "llama-cpp"
        # The session's write token: in the retrieve Space's environment, nowhere a person sees it.
        token = _session_token(kids)
        assert (
            len(token) >= 32 and Client(rag.retrieve.url, verbose=False).predict(api_name="/stats")["uploads_enabled"]
        )
        assert "Uploads: on" in out and token not in out
        chat_url = f"http://127.0.0.1:{ports[3]}/"
        for page in ("", "config", "gradio_api/info"):
            with urllib.request.urlopen(chat_url + page, timeout=10) as r:
                body = r.read().decode()
            assert token not in body, page
        assert (
            "Which files can I upload?" not in urllib.request.urlopen(chat_url + "config", timeout=10).read().decode()
        )  # examples: bundled corpus only
        pdf = tmp_path / "glaciers.pdf"
        pdf.write_bytes(make_pdf(["Glaciers advance when snowfall exceeds melting for many years."]))
        assert "Indexed 1 new chunks" in rag.add_documents([str(pdf)], token)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        time.sleep(0.5)
        assert not [k for k in kids if _alive(k)], "child Spaces survived the shutdown"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_chat_space_runs_as_deployed(stack, start_space):
    """spaces/chat/app.py, started like a Space: stages from PIPELINE_*_URL, uploads from RETRIEVE_WRITE_TOKEN."""
    u = stack.urls
    server = start_space(
        "chat",
        PIPELINE_RETRIEVE_URL=u["retrieve"],
        PIPELINE_RERANK_URL=u["rerank"],
        PIPELINE_GENERATE_URL=u["generate"],
        RETRIEVE_WRITE_TOKEN=STACK_TOKEN,
    )
    try:
        got = Client(server.url, verbose=False).predict("What causes tides?", api_name="/ask")
        assert got["answer"] and got["sources"][0]["source"] in ("tides.txt", "mirror-tides.txt")
        page = urllib.request.urlopen(server.url + "config", timeout=10).read().decode()
        assert "Add to the index" in page and STACK_TOKEN not in page
    finally:
        server.stop()

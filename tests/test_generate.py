"""The Generate Space: real llama-cpp on a GGUF the test writes, the Inference API path against a
local OpenAI-compatible server, the extractive path, budgets, history, concurrency, bad inputs."""

from __future__ import annotations

import concurrent.futures as cf
import time

import pytest
from gradio_client import Client
from rag_contract.messages import history_messages
from rag_generate.embedder import EvidenceEmbedder
from rag_generate.evidence import best_evidence
from rag_generate.llama import LlamaCppBackend
from rag_generate.prompts import (
    GROUNDED_SYSTEM_PROMPT,
    Source,
    build_messages,
    fit_sources,
    parse_citations,
    split_sentences,
)

from tests.openai_stub import OpenAIStub
from tests.tiny_models import make_gguf

SOURCES = [
    {
        "id": "tides",
        "source": "ocean.md",
        "text": "Tides are caused by the gravitational pull of the moon. The sun adds a smaller pull.",
    },
    {"id": "moon", "source": "moon.md", "text": "The moon orbits the Earth about once every 27 days."},
    {"id": "volcano", "source": "geo.md", "text": "Volcanoes erupt when magma rises through the crust."},
]
LONG = [
    {
        "id": f"long{i}",
        "text": " ".join(f"Sentence {j} of passage {i} talks about ocean tides and the moon." for j in range(40)),
    }
    for i in range(4)
]


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory):
    return make_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="session")
def llama(tiny_gguf):
    b = LlamaCppBackend(model_path=tiny_gguf, n_ctx=1024, prefix_system_prompt=GROUNDED_SYSTEM_PROMPT)
    b.warm_up()
    return b


def words(text: str) -> int:
    return len(text.split())


# -- pure prompt logic ----------------------------------------------------------------------


def test_split_sentences_round_trips():
    text = "One. Two? Three!\nFour (four). Five"
    assert "".join(split_sentences(text)) == text
    assert len(split_sentences(text)) == 5
    # an abbreviation or an initial does not end a sentence
    said = "He joined the U.S. Army in 1990. J. R. R. Tolkien met Dr. Smith. it was late."
    assert split_sentences(said) == [
        "He joined the U.S. Army in 1990. ",
        "J. R. R. Tolkien met Dr. Smith. ",
        "it was late.",
    ]


def test_fit_sources_keeps_rank_order_cuts_at_sentences_and_reports():
    sources = [
        Source(text="a b c. d e f. g h i.", id="1"),
        Source(text="j k l.", id="2"),
        Source(text="m n o.", id="3"),
    ]
    # Each source costs the words the prompt shows of it, nothing more.
    kept, trim = fit_sources(sources, budget=12, count=words)  # 9 + 3 fit; the third does not
    assert [s.id for s, _ in kept] == ["1", "2"] and trim.dropped == [2] and trim.used_tokens == 12
    kept, trim = fit_sources(sources, budget=7, count=words)
    assert [(s.id, t) for s, t in kept] == [("1", "a b c. d e f. ")] and trim.cut == [0] and trim.dropped == [1, 2]
    assert trim.used_tokens == 6
    kept, trim = fit_sources(sources, budget=2, count=words)
    assert kept == [] and trim.dropped == [0, 1, 2]


def test_parse_citations():
    assert parse_citations("Tides [1]. Also [2, 3] and [1] again, not [9] or [0].", 3) == [1, 2, 3]
    assert parse_citations("no citations", 3) == []


def test_prompt_fits_the_budget_with_the_real_tokenizer(llama):
    sources = [Source(text=d["text"], id=d["id"]) for d in LONG]
    history = [["earlier question " * 20, "earlier answer " * 20]] * 6
    for budget in (400, 700, 1000):
        messages, kept, trim, n_hist = build_messages(
            "What causes tides?",
            sources,
            history=history,
            prompt_budget=budget,
            count_messages=llama.count_messages,
            count=llama.count,
        )
        assert llama.count_messages(messages) <= budget
        assert messages[0]["content"] == GROUNDED_SYSTEM_PROMPT and messages[-1]["content"].endswith(
            "Question: What causes tides?"
        )
        assert n_hist % 2 == 0
    with pytest.raises(ValueError, match="question alone needs"):
        build_messages(
            "why " * 2000, sources, prompt_budget=300, count_messages=llama.count_messages, count=llama.count
        )


def test_history_keeps_the_newest_turns_first(llama):
    history = [["old question", "old answer"], ["new question", "new answer"]]
    base = build_messages(
        "q", [], history=[], prompt_budget=1000, count_messages=llama.count_messages, count=llama.count
    )[0]
    budget = llama.count_messages(base[:1] + history_as_messages(history[1:]) + base[1:]) + 2
    messages, _, _, n_hist = build_messages(
        "q", [], history=history, prompt_budget=budget, count_messages=llama.count_messages, count=llama.count
    )
    assert n_hist == 2 and "new question" in messages[1]["content"] and all("old" not in m["content"] for m in messages)


def history_as_messages(pairs):
    return [m for u, a in pairs for m in ({"role": "user", "content": u}, {"role": "assistant", "content": a})]


def test_system_prompt_kv_state_is_reused(llama):
    from rag_generate.backends import Sampling

    m = [{"role": "system", "content": GROUNDED_SYSTEM_PROMPT}, {"role": "user", "content": "hi"}]
    other = [{"role": "system", "content": "Something else entirely."}, {"role": "user", "content": "hi"}]
    first = "".join(llama.stream(m, Sampling(max_tokens=8, temperature=0)))
    "".join(llama.stream(other, Sampling(max_tokens=8, temperature=0)))  # evicts the prefix from the context
    again = "".join(llama.stream(m, Sampling(max_tokens=8, temperature=0)))
    assert first == again  # restoring the saved state changes nothing but the work done


def test_the_evidence_embedder_breaks_a_bm25_tie_by_meaning():
    embedder = EvidenceEmbedder()
    question = "When did the bridge open to the public?"  # shares only "bridge" with either sentence
    kept = [
        (Source(id=i, text=t), t)
        for i, t in (
            ("paint", "The bridge is painted bright red every year."),
            ("open", "The bridge first carried cars and walkers in 1932."),
        )
    ]
    assert best_evidence(question, kept).text.startswith("The bridge is painted")  # BM25: a tie, the shorter wins
    assert best_evidence(question, kept, similarity=embedder.similarity).text.startswith("The bridge first carried")
    assert embedder.label.startswith("bm25+all-MiniLM-L6-v2")
    off = EvidenceEmbedder("none")
    assert not off.available and off.label == "bm25 only: turned off (GENERATE_EVIDENCE_EMBEDDER=none)"
    with pytest.raises(RuntimeError, match="not available"):
        off.similarity("q", ["a"])


def test_model_compute_runs_on_one_thread_whoever_calls(llama):
    """libgomp gives every calling thread its own OpenMP pool and slows all of them once they
    outnumber the cores, so llama-cpp and the embedder hand their compute to one thread."""
    import threading

    from rag_contract.compute import ModelThread, compute_thread
    from rag_generate.backends import Sampling

    t = ModelThread("test")
    with cf.ThreadPoolExecutor(3) as pool:
        idents = set(pool.map(lambda _: t.call(threading.get_ident), range(6)))
    assert len(idents) == 1 and threading.get_ident() not in idents
    assert t.call(lambda: t.call(lambda: 7)) == 7  # a call from the thread itself runs inline

    produced, closed = [], threading.Event()

    def endless():
        try:
            while True:
                produced.append(threading.get_ident())
                yield len(produced)
        finally:
            closed.set()

    it = t.iterate(endless)
    assert [next(it) for _ in range(3)] == [1, 2, 3]
    it.close()
    assert closed.wait(5) and set(produced) == idents  # stopped, on the model thread
    assert len(produced) <= 3 + 3  # three read, two queued, one waiting to be
    with pytest.raises(ZeroDivisionError):
        t.call(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        list(t.iterate(lambda: iter([1 / 0])))

    assert llama.model_thread is compute_thread() is EvidenceEmbedder().model_thread
    m = [{"role": "system", "content": GROUNDED_SYSTEM_PROMPT}, {"role": "user", "content": "hi"}]
    with cf.ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(lambda _: "".join(llama.stream(m, Sampling(max_tokens=8, temperature=0))), range(4)))
    assert len(set(outs)) == 1 and outs[0]  # greedy, from any caller, one at a time


# -- the real server, local backend ------------------------------------------------------------


@pytest.fixture(scope="module")
def client(start_module_space, tiny_gguf):
    # The model is asked every time here: these tests are of its path. The default is tested below.
    server = start_module_space(
        "generate", GENERATE_MODEL_PATH=tiny_gguf, GENERATE_N_CTX="1024", HF_TOKEN="", GENERATE_ASK_MODEL="always"
    )
    return Client(server.url, verbose=False)


def test_generate_streams_plain_text(client):
    job = client.submit("Say something.", "Be brief.", 12, 0.0, 0.95, 40, api_name="/generate")
    outputs = list(job)
    final = job.result()
    assert isinstance(final, str) and final and not final.startswith("{")
    assert len(outputs) >= 3 and all(final.startswith(o) for o in outputs if isinstance(o, str))


def test_max_tokens_bounds_the_output(client):
    text = client.predict("Say something long.", "Be brief.", 5, 0.0, 0.95, 40, api_name="/generate")
    assert 1 <= len(text) <= 10  # every token of this model is one or two characters


def test_answer_names_its_backend_sources_usage_and_timings(client):
    job = client.submit("What causes tides?", SOURCES, [], 16, 0.0, 0.95, 40, api_name="/answer")
    outputs = list(job)
    text, info = job.result()
    # The sources come first; no text is shown before the gate has judged it.
    assert (
        len(outputs) >= 2
        and outputs[0][1]["status"] == "generating"
        and outputs[0][1]["sources"]
        and outputs[0][0] == ""
    )
    assert (
        info["verdict"] in ("answer", "likely", "not_found")
        and 0 <= info["confidence"] <= 1
        and info["grounding"]["model_text"]
    )
    assert info["supported"] is (info["verdict"] == "answer")
    if info["verdict"] == "likely":  # random weights: hedged, with the best match quoted
        assert (
            text.startswith("The best match in your documents [1]:")
            and "Tides are caused" in text
            and info["grounding"]["reason"]
        )
    elif info["verdict"] == "not_found":
        assert text == "Your documents don't seem to answer this." and info["citations"] == []
    assert info["grounding"]["candidate"].startswith("Tides are caused")
    assert info["status"] == "done" and info["backend"] == "llama-cpp"
    assert info["attempts"][-1] == {**info["attempts"][-1], "backend": "llama-cpp", "outcome": "answered"}
    assert info["sources"][0]["id"] == "tides" and {s["id"] for s in info["sources"]} == {"tides", "moon", "volcano"}
    assert 0 < info["usage"]["completion_tokens"] <= 16 + 2 and info["usage"]["prompt_tokens"] > 0
    assert info["timings"]["ttft_s"] >= 0 and info["timings"]["total_s"] >= info["timings"]["ttft_s"]
    assert isinstance(info["citations"], list)
    # The project's answer reader scored the sentences, and both the answer and /status say so.
    assert info["evidence_scorer"].startswith("answer reader: answer-reader") and info["reader_fallback"] is False
    assert "reader_logit" in info["grounding"]["signals"] and info["grounding"]["calibration"].startswith("reader")
    status = client.predict(api_name="/status")
    assert status["evidence_scorer"] == info["evidence_scorer"] and status["reader"] == info["reader"]


def test_answer_takes_the_rerank_table(client):
    table = {
        "headers": ["id", "text", "source", "score", "rerank_score", "rerank_method"],
        "data": [[d["id"], d["text"], d["source"], 1.0, 0.9, "cross-encoder x"] for d in SOURCES],
        "metadata": None,
    }
    _, info = client.predict("What causes tides?", table, [], 4, 0.0, 0.95, 40, api_name="/answer")
    # Every row is read; the source that answers is [1] (the others follow the reader's order).
    assert info["sources"][0]["source"] == "ocean.md" and {s["source"] for s in info["sources"]} == {
        "ocean.md",
        "moon.md",
        "geo.md",
    }


def test_parallel_requests_all_complete(client):
    with cf.ThreadPoolExecutor(4) as pool:
        jobs = [
            pool.submit(client.predict, f"Question {i}?", SOURCES, [], 8, 0.5, 0.9, 20, api_name="/answer")
            for i in range(4)
        ]
        results = [j.result(timeout=120) for j in jobs]
    assert all(info["backend"] == "llama-cpp" and text for text, info in results)


@pytest.mark.parametrize(
    "args, message",
    [
        (("", "s", 10, 0.5, 0.9, 40), "prompt is empty"),
        (("hi", "s", 10, 2.5, 0.9, 40), "temperature must be between 0 and 2"),
        (("hi", "s", 10, -0.1, 0.9, 40), "temperature must be between 0 and 2"),
        (("hi", "s", 10, 0.5, 0.0, 40), r"top_p must be in \(0, 1\]"),
        (("hi", "s", 10, 0.5, 1.5, 40), r"top_p must be in \(0, 1\]"),
        (("hi", "s", 10, 0.5, 0.9, -1), "top_k must be a whole number >= 0"),
        (("hi", "s", 0, 0.5, 0.9, 40), "max_tokens must be a whole number >= 1"),
        (("hi", "s", 100000, 0.5, 0.9, 40), "does not fit the context window"),
        (("word " * 1900, "s", 200, 0.5, 0.9, 40), "Shorten the prompt or lower max_tokens"),
    ],
)
def test_generate_bad_inputs(client, args, message):
    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name="/generate")


@pytest.mark.parametrize(
    "query, documents, message",
    [
        ("  ", SOURCES, "query is empty"),
        ("q", {"headers": ["id", "body"], "data": [["a", "b"]]}, "no `text` column"),
        # the documents table's own errors: the same schema, and the same words, as the rerank Space's
        ("q", {"rows": []}, "needs `headers` and `data` keys"),
        ("q", [1, 2], "only strings or only dicts with a `text` key; it holds a number"),
        ("q", "just text", "not a single string"),
        ("why " * 2400, SOURCES, "question alone needs"),
    ],
)
def test_answer_bad_inputs(client, query, documents, message):
    with pytest.raises(Exception, match=message):
        client.predict(query, documents, [], 16, 0.5, 0.9, 40, api_name="/answer")


# -- budgets and history through a server with a small window -----------------------------------


@pytest.fixture(scope="module")
def small_client(start_module_space, tiny_gguf):
    server = start_module_space(
        "generate", GENERATE_MODEL_PATH=tiny_gguf, GENERATE_N_CTX="768", GENERATE_SOURCE_TOKENS="200", HF_TOKEN=""
    )
    return Client(server.url, verbose=False)


def test_sources_are_trimmed_by_tokens_and_reported(small_client):
    _, info = small_client.predict("What causes tides?", LONG, [], 64, 0.0, 0.95, 40, api_name="/answer")
    trim = info["trim"]
    assert trim["budget_tokens"] == 200 and trim["used_tokens"] <= 200
    # The reader's best sentences, whole, within the budget: every source kept is cut at a sentence.
    assert trim["kept"] >= 1 and trim["kept"] + trim["dropped"] == 4 and trim["cut"] == trim["kept"]
    assert info["sources"][0]["cut"] is True
    assert info["sources"][0]["text"].rstrip().endswith("moon.")
    assert info["usage"]["prompt_tokens"] + 64 <= 768


def test_history_is_used_within_the_budget(small_client):
    history = [[f"old question {i} " * 10, f"old answer {i} " * 10] for i in range(10)] + [
        ["latest question", "latest answer"]
    ]
    _, info = small_client.predict("And then?", SOURCES, history, 32, 0.0, 0.95, 40, api_name="/answer")
    assert 2 <= info["history_messages_kept"] < 22
    assert info["usage"]["prompt_tokens"] + 32 <= 768


# -- fallback chain ------------------------------------------------------------------------------


# huggingface_hub refuses every request in offline mode, even to a local base_url; these
# servers reach only the stub on 127.0.0.1 (the GGUF path is local, tokenizers local-only).
ONLINE = {"HF_HUB_OFFLINE": "0"}


@pytest.fixture
def stub():
    s = OpenAIStub()
    yield s
    s.close()


def test_missing_model_falls_back_to_the_inference_api(start_space, stub, tmp_path):
    server = start_space(
        "generate",
        GENERATE_MODEL_PATH=str(tmp_path / "missing.gguf"),
        GENERATE_API_BASE_URL=stub.url,
        GENERATE_API_MODEL="org/api-model",
        HF_TOKEN="hf_secret_test_token",
        GENERATE_ASK_MODEL="always",
        **ONLINE,
    )
    client = Client(server.url, verbose=False)
    text, info = client.predict("What causes tides?", SOURCES, [], 32, 0.2, 0.9, 40, api_name="/answer")
    assert info["backend"] == "inference-api" and info["grounding"]["model_text"] == stub.reply
    # The API model's answer points at the tides sentence, which is what the user reads, cited.
    assert text == "Tides are caused by the gravitational pull of the moon [1]." and info["supported"] is True
    assert info["attempts"][0]["backend"] == "llama-cpp" and info["attempts"][0]["outcome"] == "unavailable"
    assert "missing.gguf" in info["attempts"][0]["detail"]
    assert info["citations"] == [{"n": 1, "id": "tides", "source": "ocean.md"}]
    req = stub.requests[-1]
    assert (
        req["body"]["model"] == "org/api-model"
        and req["body"]["stream"] is True
        and req["auth"] == "Bearer hf_secret_test_token"
    )
    assert "Tides are caused" in req["body"]["messages"][-1]["content"]  # the grounded prompt went to the API
    assert client.predict("Hello", "Be brief.", 16, 0.2, 0.9, 40, api_name="/generate") == stub.reply
    assert "hf_secret_test_token" not in server.log()


def test_a_local_backend_that_raises_falls_back(start_space, stub, tmp_path):
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\x00" * 64)
    server = start_space(
        "generate",
        GENERATE_MODEL_PATH=str(corrupt),
        GENERATE_API_BASE_URL=stub.url,
        HF_TOKEN="t",
        GENERATE_ASK_MODEL="always",
        **ONLINE,
    )
    text, info = Client(server.url, verbose=False).predict(
        "What causes tides?", SOURCES, [], 32, 0.2, 0.9, 40, api_name="/answer"
    )
    assert (
        info["backend"] == "inference-api" and info["grounding"]["model_text"] == stub.reply and text.endswith("[1].")
    )
    assert info["attempts"][0]["outcome"] == "unavailable" and "Failed to load model" in info["attempts"][0]["detail"]


def test_both_models_down_gives_an_extractive_answer(start_space, tmp_path):
    failing = OpenAIStub(mode="error")
    try:
        server = start_space(
            "generate",
            GENERATE_MODEL_PATH=str(tmp_path / "none.gguf"),
            GENERATE_API_BASE_URL=failing.url,
            HF_TOKEN="t",
            GENERATE_EVIDENCE_EMBEDDER=str(tmp_path / "no-such-model"),
            GENERATE_ANSWER_READER=str(tmp_path / "no-such-reader"),
            GENERATE_ASK_MODEL="always",
            **ONLINE,
        )
        client = Client(server.url, verbose=False)
        text, info = client.predict("What causes tides?", SOURCES, [], 32, 0.2, 0.9, 40, api_name="/answer")
        assert info["backend"] == "extractive"
        # No reader and no embedder either: evidence is chosen by BM25 alone, and the answer says so and why.
        assert (
            info["evidence_scorer"].startswith("bm25 only: could not load")
            and "GENERATE_EVIDENCE_EMBEDDER" in info["evidence_scorer"]
        )
        assert info["reader_fallback"] is True and "GENERATE_ANSWER_READER" in info["reader"]
        assert [a["outcome"] for a in info["attempts"]] == ["unavailable", "error", "answered"]
        assert "gravitational pull of the moon" in text and "[1]" in text
        assert {"n": 1, "id": "tides", "source": "ocean.md"} in info["citations"]
        with pytest.raises(Exception, match="use /answer with documents"):
            client.predict("Hello", "s", 16, 0.2, 0.9, 40, api_name="/generate")
    finally:
        failing.close()


def test_offline_mode_says_why_the_api_is_skipped(start_space, stub, tmp_path):
    server = start_space(
        "generate", GENERATE_MODEL_PATH=str(tmp_path / "none.gguf"), GENERATE_API_BASE_URL=stub.url, HF_TOKEN="t"
    )
    _, info = Client(server.url, verbose=False).predict(
        "What causes tides?", SOURCES, [], 32, 0.2, 0.9, 40, api_name="/answer"
    )
    assert info["backend"] == "extractive" and "HF_HUB_OFFLINE" in info["attempts"][1]["detail"] and not stub.requests


@pytest.mark.parametrize("ask_model", ["always", "when_needed"])
def test_a_stalled_backend_times_out_unless_the_verdict_is_settled(start_space, tmp_path, ask_model):
    stalled = OpenAIStub(mode="stall", stall_s=30)
    try:
        server = start_space(
            "generate",
            GENERATE_MODEL_PATH=str(tmp_path / "none.gguf"),
            GENERATE_API_BASE_URL=stalled.url,
            HF_TOKEN="t",
            GENERATE_TIMEOUT_S="2",
            GENERATE_ASK_MODEL=ask_model,
            **ONLINE,
        )
        start = time.perf_counter()
        text, info = Client(server.url, verbose=False).predict(
            "What causes tides?", SOURCES, [], 32, 0.2, 0.9, 40, api_name="/answer"
        )
        assert time.perf_counter() - start < 15 and info["attempts"][0]["outcome"] == "unavailable"
        if ask_model == "always":  # the chain gives up on the silent API and answers extractively
            assert info["backend"] == "extractive"
            timeout = info["attempts"][1]
            assert timeout["backend"] == "inference-api" and timeout["outcome"] in ("timeout", "error")
        else:  # the reader settled the verdict: the API is not contacted at all
            assert info["backend"] == "inference-api" and info["model_asked"] is False and not stalled.requests
            assert "not asked" in info["backend_label"] and text.endswith("[1].")
    finally:
        stalled.close()


def test_a_verdict_the_model_cannot_change_is_given_without_asking_it(start_space, client, tiny_gguf):
    """By default (GENERATE_ASK_MODEL=when_needed) the model is asked only when what it writes
    could change the verdict. The answer reader is sure of the tides sentence, so the verdict is
    given at once, and it is the one the model's answer leads to when it is asked."""
    server = start_space("generate", GENERATE_MODEL_PATH=tiny_gguf, GENERATE_N_CTX="1024", HF_TOKEN="")
    args = ("What causes tides?", SOURCES, [], 16, 0.0, 0.95, 40)
    text, info = Client(server.url, verbose=False).predict(*args, api_name="/answer")
    asked_text, asked = client.predict(*args, api_name="/answer")
    assert (text, info["verdict"], info["citations"]) == (asked_text, asked["verdict"], asked["citations"])
    assert info["model_asked"] is False and asked["model_asked"] is True and asked["grounding"]["model_text"]
    assert info["backend"] == "llama-cpp" and "not asked" in info["backend_label"]
    assert info["grounding"]["stopped"] == "settled" and info["grounding"]["model_text"] == ""
    assert info["usage"]["completion_tokens"] == 0 and info["timings"]["first_token_s"] is None
    assert not {"pointer_agrees", "abstained"} & set(info["grounding"]["signals"])
    assert info["confidence"] <= asked["confidence"]  # the lowest any answer could have made it


def test_past_the_queue_bound_a_call_is_refused_at_once_as_busy(start_space, tmp_path):
    """One answer at a time and one waiting: the rest are refused in well under a second, not left to time out."""
    from pipeline.clients import StageClient, StageError

    slow = OpenAIStub(mode="stall", stall_s=30)
    try:
        server = start_space(
            "generate",
            GENERATE_MODEL_PATH=str(tmp_path / "none.gguf"),
            GENERATE_API_BASE_URL=slow.url,
            HF_TOKEN="t",
            GENERATE_TIMEOUT_S="4",
            GENERATE_QUEUE_SIZE="1",
            **ONLINE,
        )

        def ask(i):
            t = time.monotonic()
            try:
                StageClient("generate", server.url, timeout=60).call(
                    "/answer", f"Question {i}: what causes tides?", SOURCES
                )
                return "answered", time.monotonic() - t
            except StageError as exc:
                return str(exc), time.monotonic() - t

        with cf.ThreadPoolExecutor(6) as pool:
            outcomes = list(pool.map(ask, range(6)))
        refused = [(msg, s) for msg, s in outcomes if msg != "answered"]
        answered = [s for msg, s in outcomes if msg == "answered"]
        assert len(answered) >= 2 and len(refused) >= 2, outcomes  # one running, at least one waiting, the rest refused
        for msg, seconds in refused:
            assert "generate stage" in msg and "busy: its queue is full" in msg and "Try again in a few seconds" in msg
            assert seconds < 3, f"a refusal took {seconds:.1f} s"
        assert max(answered) >= 4  # each answer waited out the stalled API (4 s) before the extractive one
    finally:
        slow.close()


def test_the_page_answers_over_passages_pasted_as_plain_text():
    from dataclasses import replace

    from rag_generate.api import GenerateAPI
    from rag_generate.config import Settings

    api = GenerateAPI(replace(Settings.from_env(), evidence_embedder="none", hf_token=""))
    api.backends = [api.extractive]  # no model file: the pure tier
    passages = (
        "The moon orbits the Earth.\n\n  Tides are caused by the gravitational pull of the moon.  \n \nVolcanoes erupt."
    )
    *_, (text, info) = api.answer_from_text("What causes the tides?", passages, 64)
    assert [s["text"] for s in sorted(info["sources"], key=lambda s: s["id"])] == [
        "The moon orbits the Earth.",
        "Tides are caused by the gravitational pull of the moon.",
        "Volcanoes erupt.",
    ]
    assert "gravitational pull" in text and info["backend"] == "extractive"


def test_history_reads_a_chatbots_content_parts():
    # A Gradio 6 Chatbot holds content as parts; its text must reach the prompt, not vanish.
    chatbot = [
        {"role": "user", "content": [{"type": "text", "text": "What causes tides?"}]},
        {
            "role": "assistant",
            "content": [{"type": "file", "file": {"path": "x.png"}}, {"type": "text", "text": "The moon."}],
        },
        {"role": "assistant", "content": []},
    ]
    assert history_messages(chatbot) == [
        {"role": "user", "content": "What causes tides?"},
        {"role": "assistant", "content": "The moon."},
    ]
    assert history_messages([["Q?", "A."]]) == [
        {"role": "user", "content": "Q?"},
        {"role": "assistant", "content": "A."},
    ]
    with pytest.raises(ValueError, match="history must be"):
        history_messages([{"role": "system", "content": "x"}])

"""The API as callers use it, against three real Spaces: every optional parameter has its
documented default in the schema, calls with only the required arguments work (by keyword and
by position), and the ai-blueprint notebooks' calls run exactly as written."""

from __future__ import annotations

import pandas as pd
import pytest
from gradio_client import Client

from tests.conftest import chat_app

SYSTEM = "You are a helpful assistant."

# Every public endpoint: its required parameters, then its optional ones with their defaults.
CONTRACT = {
    "retrieve": {
        "/retrieve": (["query"], {"k": 5, "mode": "hybrid", "filters": ""}),
        "/similarity_search": (["query"], {"k": 5}),
        "/add_documents": (["files", "token"], {}),
        "/delete_source": (["source", "token"], {}),
        "/stats": ([], {}),
        "/list_sources": ([], {}),
    },
    "rerank": {
        "/rerank": (["query", "documents"], {"top_n": None}),
        "/status": ([], {}),
    },
    "generate": {
        "/generate": (
            ["user_prompt"],
            {"system_prompt": SYSTEM, "max_tokens": 256, "temperature": 0.7, "top_p": 0.95, "top_k": 40},
        ),
        "/answer": (
            ["query", "documents"],
            {"history": [], "max_tokens": None, "temperature": 0.2, "top_p": 0.95, "top_k": 40},
        ),
        "/status": ([], {}),
    },
}


@pytest.fixture(scope="module")
def clients(stack):
    return {name: Client(url, verbose=False) for name, url in stack.urls.items()}


@pytest.mark.parametrize("space", list(CONTRACT))
def test_the_schema_lists_every_endpoint_with_its_documented_defaults(clients, space):
    endpoints = clients[space].view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == set(CONTRACT[space])  # UI-only handlers stay private
    for name, (required, optional) in CONTRACT[space].items():
        params = endpoints[name]["parameters"]
        assert [p["parameter_name"] for p in params] == required + list(optional), name
        for p in params:
            if p["parameter_name"] in required:
                assert not p["parameter_has_default"], f"{name}: {p['parameter_name']} should be required"
            else:
                assert p["parameter_has_default"] and p["parameter_default"] == optional[p["parameter_name"]], (
                    f"{name}: {p}"
                )


def rows(table: dict) -> list[dict]:
    return [dict(zip(table["headers"], r)) for r in table["data"]]


def test_retrieve_with_required_arguments_only(clients):
    c = clients["retrieve"]
    by_keyword = c.predict(query="What causes tides?", api_name="/retrieve")
    by_position = c.predict("What causes tides?", api_name="/retrieve")
    documented = c.predict("What causes tides?", 5, "hybrid", "", api_name="/retrieve")
    assert by_keyword == by_position == documented and 1 <= len(by_keyword["data"]) <= 5
    # The issue's own example: k given, filters left out.
    assert c.predict(query="What causes tides?", k=2, api_name="/retrieve")["data"] == documented["data"][:2]


def test_rerank_with_required_arguments_only(clients, stack):
    c = clients["rerank"]
    docs = ["The moon orbits the Earth.", "Tides are caused by the moon.", "Volcanoes erupt."]
    by_keyword = c.predict(query="What causes tides?", documents=docs, api_name="/rerank")
    by_position = c.predict("What causes tides?", docs, api_name="/rerank")
    assert by_keyword == by_position and len(by_keyword["data"]) == 3  # top_n defaults to every row


def test_generate_with_required_arguments_only(clients):
    c = clients["generate"]
    by_keyword = c.predict(user_prompt="Say hello.", api_name="/generate")
    by_position = c.predict("Say hello.", api_name="/generate")
    assert isinstance(by_keyword, str) and by_keyword and isinstance(by_position, str) and by_position


def test_answer_with_required_arguments_only(clients):
    c = clients["generate"]
    docs = [{"id": "t", "text": "Tides are caused by the gravitational pull of the moon."}]
    text, info = c.predict(query="What causes tides?", documents=docs, api_name="/answer")
    text2, info2 = c.predict("What causes tides?", docs, api_name="/answer")
    assert text and text2 and info["backend"] == info2["backend"] == "llama-cpp"
    assert info["sources"][0]["id"] == "t" and isinstance(info["supported"], bool)


def test_ask_with_the_question_only(stack):
    """The chat app's public endpoint, `ask`: only the question is required."""
    with chat_app(stack.urls) as url:
        client = Client(url, verbose=False)
        by_keyword = client.predict(question="What causes tides?", api_name="/ask")
        by_position = client.predict("What causes tides?", api_name="/ask")
        assert by_keyword["answer"] and by_keyword["sources"] and by_position["answer"]


# -- huggingface/ai-blueprint, rag/retrieve.ipynb, rag/augment.ipynb, rag/pipeline.ipynb ---------


def test_ai_blueprint_notebook_calls_run_unchanged(stack):
    replay_ai_blueprint(*(stack.urls[n] for n in ("retrieve", "rerank", "generate")))


def replay_ai_blueprint(retrieve_url: str, rerank_url: str, generate_url: str) -> None:
    """The notebooks' calls, as written, against the three stages' URLs (one URL thrice for the suite)."""
    # retrieve
    res = Client(retrieve_url).predict(api_name="/similarity_search", query="How should companies prepare for AI?", k=5)
    df = pd.DataFrame(data=res["data"], columns=res["headers"])
    df = df.drop_duplicates("text")
    assert len(df) >= 1 and df["text"].map(bool).all() and df["url"].map(bool).all()
    assert ((df["distance"] >= 0) & (df["distance"] <= 2)).all()
    assert Client(retrieve_url).predict(api_name="/similarity_search", query="tides", k=50)["data"]  # k may be 50

    # rerank: one table, no top_n, sorted by "rank"
    out = Client(rerank_url).predict(
        query="What is the future of AI?",
        documents={"headers": df.columns.tolist(), "data": df.values.tolist(), "metadata": None},
        api_name="/rerank",
    )
    ranked = pd.DataFrame(data=out["data"], columns=out["headers"]).sort_values(by="rank", ascending=False)
    assert len(ranked) == len(df) and set(df.columns) < set(ranked.columns)
    assert ranked["rank"].tolist() == ranked["rerank_score"].tolist()
    assert list(pd.DataFrame(data=out["data"], columns=out["headers"])["text"]) == list(
        ranked["text"]
    )  # already best first

    # generate: keywords, all six, or user_prompt alone; plain text back
    full = Client(generate_url).predict(
        user_prompt="What is the future of AI?",
        system_prompt="You are a helpful assistant.",
        max_tokens=512,
        temperature=0.2,
        top_p=0.95,
        top_k=40,
        api_name="/generate",
    )
    alone = Client(generate_url).predict(user_prompt="What is the future of AI?", api_name="/generate")
    for text in (full, alone):
        assert isinstance(text, str) and text and not text.startswith("{")


def test_similarity_search_distance_is_the_cosine_distance(clients, embedder):
    import numpy as np

    got = rows(clients["retrieve"].predict("What causes tides?", 3, api_name="/similarity_search"))
    q = embedder.embed(["What causes tides?"])[0]
    for r in got:
        title = r["title"]
        v = embedder.embed([f"{title}\n{r['text']}" if title else r["text"]])[0]
        assert r["distance"] == pytest.approx(1 - float(np.dot(q, v)), abs=1e-3)
        assert r["url"] == r["source"]  # no url metadata: the source name stands in

"""The one-Space suite (spaces/suite) and the stages in process: the same API as the four Spaces,
the same answers, and errors that still name the stage."""

from __future__ import annotations

import pytest
from gradio_client import Client

from pipeline.clients import StageError
from pipeline.stages import ENDPOINTS, InProcessStage, wire
from tests.conftest import chat_app
from tests.test_api_contract import CONTRACT, replay_ai_blueprint

# The one rename: two stages have /status; generate's keeps the name.
RENAMED = {("rerank", "/status"): "/rerank_status"}


@pytest.fixture(scope="module")
def suite(stack_env, start_module_space, tmp_path_factory):
    # Its own index folder: the module's four-Space stack keeps its own.
    env = {**stack_env, "RETRIEVE_INDEX_DIR": str(tmp_path_factory.mktemp("suite") / "index")}
    return start_module_space("suite", **env)


def test_every_stage_endpoint_is_served_with_its_name_and_defaults(suite):
    endpoints = Client(suite.url, verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"]
    expected = {
        RENAMED.get((stage, name), name): spec for stage, names in CONTRACT.items() for name, spec in names.items()
    }
    assert set(endpoints) == set(expected) | {"/ask"}  # and the chat page's one tool
    for name, (required, optional) in expected.items():
        params = endpoints[name]["parameters"]
        assert [p["parameter_name"] for p in params] == required + list(optional), name
        assert all(
            p["parameter_default"] == optional[p["parameter_name"]] for p in params if p["parameter_has_default"]
        )


def test_ai_blueprint_calls_pointed_at_the_suite_pass(suite):
    replay_ai_blueprint(suite.url, suite.url, suite.url)


def test_the_suite_answers_as_the_four_spaces_do(suite, stack):
    """Same corpus, same models: the in-process stages give the answer the remote ones give."""
    with chat_app(stack.urls) as four:
        apart = Client(four, verbose=False).predict("What causes tides?", 10, 3, api_name="/ask")
    together = Client(suite.url, verbose=False).predict("What causes tides?", 10, 3, api_name="/ask")
    for key in ("answer", "verdict", "confidence", "supported", "backend"):
        assert together[key] == apart[key], key
    assert [(s["n"], s["source"], s["cited"]) for s in together["sources"]] == [
        (s["n"], s["source"], s["cited"]) for s in apart["sources"]
    ]


def test_a_stage_in_process_reads_as_over_the_wire(stack, stack_env, monkeypatch):
    from rag_rerank.api import RerankAPI

    monkeypatch.setenv("RERANK_MODEL", stack_env["RERANK_MODEL"])
    rerank = InProcessStage("rerank", RerankAPI())
    docs = ["The moon orbits the Earth.", "Tides are caused by the moon.", "Volcanoes erupt."]
    remote = Client(stack.urls["rerank"], verbose=False).predict("What causes tides?", docs, 2, api_name="/rerank")
    assert rerank.call("/rerank", "What causes tides?", docs, 2) == remote
    with pytest.raises(StageError, match=r"The rerank stage .* /rerank returned an error: .*query"):
        rerank.call("/rerank", "  ", docs, 2)
    with pytest.raises(StageError, match="has no endpoint /answer.*Its endpoints are /rerank, /status"):
        rerank.call("/answer", "q", docs)
    with pytest.raises(TypeError, match="is not a rerank API: it lacks rerank, status"):
        InProcessStage("rerank", object())
    assert set(ENDPOINTS) == set(CONTRACT) and all(set(ENDPOINTS[s]) == set(CONTRACT[s]) for s in CONTRACT)


@pytest.mark.pure
def test_the_wire_shape_of_a_table_and_of_json():
    import numpy as np
    import pandas as pd

    table = pd.DataFrame({"id": ["a", "b"], "score": [np.float32(0.5), np.nan], "page": [None, "3"]})
    got = wire(table)
    assert got["headers"] == ["id", "score", "page"] and got["data"] == [["a", 0.5, None], ["b", None, "3"]]
    assert wire(("text", {"n": np.int64(2), "pair": (1, 2)})) == ("text", {"n": 2, "pair": [1, 2]})


def test_the_chat_handlers_add_list_and_delete_documents_through_an_in_process_stage(tmp_path, monkeypatch):
    """The chat page's document controls, with no page and no server: ChatHandlers over a
    RAGPipeline whose retrieve stage is the Space's API in this process."""
    from rag_retrieve.api import RetrieveAPI

    from pipeline import RAGPipeline
    from pipeline.chat_handlers import ChatHandlers
    from tests.conftest import write_corpus

    monkeypatch.setenv("RETRIEVE_CORPUS", str(write_corpus(tmp_path)))
    monkeypatch.setenv("RETRIEVE_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("RETRIEVE_WRITE_TOKEN", "in-process-token")
    api = RetrieveAPI()
    api.start()
    # Only the retrieve stage is called: the others are addresses that nothing reaches.
    rag = RAGPipeline(
        retrieve=InProcessStage("retrieve", api), rerank="http://127.0.0.1:9/", generate="http://127.0.0.1:9/"
    )
    handlers = ChatHandlers(rag, write_token="in-process-token")
    rows, _, summary = handlers.list_sources()
    assert len(rows) == 4 and summary.startswith("**4 sources indexed**")
    note = tmp_path / "glaciers.md"
    note.write_text("# Glaciers\n\nGlaciers move downhill under their own weight, a few metres a day.")
    report, emptied, rows, _, summary = handlers.upload([str(note)])
    assert report.startswith("Indexed 1 new chunks") and emptied is None and "glaciers.md" in [r[0] for r in rows]
    assert rag.retrieve.call("/retrieve", "How fast do glaciers move?", 1)["data"][0][1].endswith("a few metres a day.")
    report, rows, _, _ = handlers.delete("glaciers.md")
    assert "glaciers.md" not in [r[0] for r in rows]
    with pytest.raises(Exception, match="write token"):  # gr.Error, with the fix
        ChatHandlers(rag).upload([str(note)])

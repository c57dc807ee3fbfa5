"""Chunking invariants, measured with the real MiniLM tokenizer."""

from __future__ import annotations

import random

import pytest
from rag_retrieve.chunking import TokenChunker, split_spans
from rag_retrieve.documents import Document

WORDS = "the tide rises with the moon while coastal sediment shifts under persistent longshore currents".split()


def random_text(rng: random.Random, n_words: int) -> str:
    out, paragraphs = [], []
    for i in range(n_words):
        w = rng.choice(WORDS)
        if rng.random() < 0.01:
            w = "x" * rng.randint(20, 60)  # long odd tokens
        out.append(w)
        if rng.random() < 0.08:
            out[-1] += "."
        if rng.random() < 0.02:
            paragraphs.append(" ".join(out))
            out = []
    paragraphs.append(" ".join(out))
    return "\n\n".join(p for p in paragraphs if p)


@pytest.fixture(scope="module")
def chunker(embedder):
    return TokenChunker(embedder.tokenizer, max_tokens=embedder.max_seq_length, overlap=32)


def full_tokens(embedder, text: str) -> int:
    return len(embedder.tokenizer(text, add_special_tokens=True)["input_ids"])


@pytest.mark.parametrize("seed", range(6))
def test_no_chunk_exceeds_the_model_limit_and_text_is_covered(chunker, embedder, seed):
    rng = random.Random(seed)
    doc = Document(
        id="d", text=random_text(rng, rng.randint(300, 3000)), source="s.txt", title="A title about tides and moons"
    )
    chunks = chunker.chunk(doc)
    assert len(chunks) > 1
    for c in chunks:
        assert full_tokens(embedder, c.embed_text) <= embedder.max_seq_length
        assert doc.text[c.start : c.end] == c.text
    # Every non-space character lies inside some chunk.
    covered = [False] * len(doc.text)
    for c in chunks:
        covered[c.start : c.end] = [True] * (c.end - c.start)
    assert all(covered[i] for i, ch in enumerate(doc.text) if not ch.isspace())


def test_consecutive_chunks_overlap(chunker):
    rng = random.Random(42)
    doc = Document(id="d", text=random_text(rng, 2000), source="s.txt")
    chunks = chunker.chunk(doc)
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end, "no overlap between consecutive chunks"
        assert b.start > a.start, "no progress"
        assert chunker.count_tokens(doc.text[b.start : a.end]) <= 32 + 2


def test_short_document_stays_one_chunk(chunker):
    doc = Document(id="d", text="A short note.\n\nTwo paragraphs.", source="s.txt", title="Note")
    [chunk] = chunker.chunk(doc)
    assert chunk.text == doc.text and chunk.id == "d#0" and chunk.embed_text.startswith("Note\n")


def test_chunks_prefer_paragraph_then_sentence_boundaries(chunker):
    para = " ".join(["Sentence number {} ends here.".format(i) for i in range(20)])
    text = "\n\n".join([para] * 6)
    chunks = chunker.chunk(Document(id="d", text=text, source="s"))
    assert len(chunks) > 2
    for c in chunks[:-1]:
        assert c.text.endswith("."), f"chunk ends mid-sentence: {c.text[-40:]!r}"


def test_a_single_huge_word_is_still_split(chunker, embedder):
    text = "a" * 20000
    chunks = chunker.chunk(Document(id="d", text=text, source="s"))
    assert len(chunks) > 1
    assert all(full_tokens(embedder, c.embed_text) <= embedder.max_seq_length for c in chunks)


def test_long_titles_are_cut_to_leave_room(chunker, embedder):
    title = " ".join(["verylongtitleword"] * 200)
    chunks = chunker.chunk(Document(id="d", text="Body text. " * 300, source="s", title=title))
    assert all(full_tokens(embedder, c.embed_text) <= embedder.max_seq_length for c in chunks)


def test_split_spans_is_pure_and_validates():
    text = "aa bb cc dd ee ff"
    starts = [0, 3, 6, 9, 12, 15]
    assert split_spans(text, starts, 2, 0) == [(0, 5), (6, 11), (12, 17)]
    assert split_spans(text, starts, 100, 10) == [(0, 17)]
    assert split_spans("   ", [], 5) == []
    with pytest.raises(ValueError, match="overlap"):
        split_spans(text, starts, 2, 2)

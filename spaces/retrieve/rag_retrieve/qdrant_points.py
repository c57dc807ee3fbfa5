"""How a chunk is stored as a Qdrant point: its id, its BM25 sparse vector, and its payload
(the chunk, plus lower-cased fields and character n-grams that filters match on)."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from typing import Sequence

from .documents import Chunk
from .index import text_key

K1, B = 1.2, 0.75


def point_id(chunk: Chunk) -> str:
    return str(uuid.UUID(hex=text_key(chunk)))


def term_id(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "big")


def bm25_weights(tokens: Sequence[str], avgdl: float) -> dict[int, float]:
    """A document's sparse vector: Lucene BM25 term-frequency weights, keyed by term id."""
    tf = Counter(tokens)
    norm = K1 * (1 - B + B * len(tokens) / max(avgdl, 1e-9))
    return {term_id(t): n / (n + norm) for t, n in tf.items()}


def query_weights(tokens: Sequence[str]) -> dict[int, float]:
    """A query's sparse vector: each term counts as often as it occurs (as bm25s does)."""
    return {term_id(t): float(n) for t, n in Counter(tokens).items()}


def payload(c: Chunk) -> dict:
    meta = {str(k): str(v).lower() for k, v in (c.metadata or {}).items()}
    return {
        "chunk": {
            "id": c.id,
            "doc_id": c.doc_id,
            "text": c.text,
            "source": c.source,
            "title": c.title,
            "position": c.position,
            "start": c.start,
            "end": c.end,
            "metadata": c.metadata or {},
        },
        "source": c.source,
        "first": c.position == 0,  # one per document: counts documents without a scan
        "f": (
            f := {
                "source": c.source.lower(),
                "title": c.title.lower(),
                "doc_id": str(c.doc_id).lower(),
                "id": str(c.id).lower(),
                "meta": meta,
            }
        ),
        "g": {
            **{k: sorted(grams(v)) for k, v in f.items() if k != "meta"},
            "meta": {k: sorted(grams(v)) for k, v in meta.items()},
        },
    }


def grams(value: str, *, exact: bool = False) -> set[str]:
    """Character n-grams of 1 to 3 characters: all of them for a stored field; for a `~`
    value, those of its longest length (which imply the shorter ones)."""
    sizes = [min(3, len(value))] if exact else range(1, 4)
    return {value[i : i + n] for n in sizes for i in range(len(value) - n + 1)}


def chunk_of(payload: dict) -> Chunk:
    return Chunk(**payload["chunk"])

"""Where the chunks live: the `IndexStore` interface every index store implements, and the local one.

`LocalIndex` (the default) keeps a `HybridIndex` snapshot in memory and persists it in
generations under the index folder. `QdrantIndex` (qdrant_index.py, optional dependency)
keeps the same data in a Qdrant collection: a server or cluster through `QDRANT_URL`, or
qdrant-client's embedded mode in the index folder. `Retriever` talks only to this interface,
so moving to Qdrant is a setting (RETRIEVE_BACKEND), not a rewrite. ("Backend" in the
generate Space means a generation model; here the thing is called a store.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from .documents import Chunk
from .filters import Clause, predicate
from .index import Hit, HybridIndex

STORES = ("local", "qdrant")


class IndexUnavailable(RuntimeError):
    """The index cannot be reached (a Qdrant server down, a folder in use); the message says why and what to do."""


class IndexStore(Protocol):
    """Add, delete by source, search (dense, bm25, hybrid) with filters, stats; persisted.

    Writes are called one at a time (the Retriever holds a lock); reads may run beside them.
    Every write is durable when it returns.
    """

    name: str

    def __len__(self) -> int: ...

    def new_chunks(self, chunks: Sequence[Chunk]) -> list[Chunk]:
        """The chunks not indexed yet: identical text under the same title is indexed once."""

    def add(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Index chunks with their unit vectors (call `new_chunks` first); adding a chunk again
        replaces it, never duplicates it."""

    def delete_source(self, source: str) -> int:
        """Remove every chunk of `source`; returns how many were removed."""

    def search(
        self, query_vector: np.ndarray | None, query: str, *, k: int, mode: str, clauses: list[Clause]
    ) -> list[Hit]:
        """The k best chunks, best first; chunks failing a clause never rank (filter first)."""

    def sources(self) -> list[dict]:
        """[{"source", "documents", "chunks"}], by source name."""

    def stats(self) -> dict:
        """{"documents", "chunks", "sources", "dimension", "backend", "location"}."""

    def close(self) -> None:
        """Release files and connections."""


class LocalIndex:
    """The in-process index: exact cosine over a numpy matrix plus bm25s, saved atomically.

    Args:
        index_dir: where generations are saved; None keeps the index in memory only.
        model: the embedding model's name; an index built with another is refused.
        dimension: the embedding size, for a new index.
        fusion: hybrid fusion (zscore, convex or rrf).
    """

    name = "local"

    def __init__(self, index_dir: str | Path | None, *, model: str, dimension: int, fusion: str):
        self.index_dir = Path(index_dir) if index_dir is not None else None
        index = HybridIndex.load(self.index_dir, model=model) if self.index_dir else None
        if index is not None and index.fusion != fusion:
            index = HybridIndex(index.chunks, index.vectors, model=index.model, bm25=index.bm25, fusion=fusion)
        # Readers take this snapshot; a write swaps it only once the new one is saved.
        self.snapshot = index or HybridIndex.empty(model=model, dimension=dimension, fusion=fusion)

    def __len__(self) -> int:
        return len(self.snapshot)

    def new_chunks(self, chunks: Sequence[Chunk]) -> list[Chunk]:
        return self.snapshot.new_chunks(chunks)

    def add(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        self._swap(self.snapshot.added(chunks, vectors))

    def delete_source(self, source: str) -> int:
        before = self.snapshot
        self._swap(before.without_source(source))
        return len(before) - len(self.snapshot)

    def _swap(self, new: HybridIndex) -> None:
        if new is not self.snapshot and self.index_dir is not None:
            new.save(self.index_dir)
        self.snapshot = new

    def search(self, query_vector, query: str, *, k: int, mode: str, clauses: list[Clause]) -> list[Hit]:
        return self.snapshot.search(query_vector, query, k=k, mode=mode, where=predicate(clauses))

    def sources(self) -> list[dict]:
        docs: dict[str, set] = {}
        chunks: dict[str, int] = {}
        for c in self.snapshot.chunks:
            docs.setdefault(c.source, set()).add(c.doc_id)
            chunks[c.source] = chunks.get(c.source, 0) + 1
        return [{"source": s, "documents": len(docs[s]), "chunks": chunks[s]} for s in sorted(chunks)]

    def stats(self) -> dict:
        index = self.snapshot
        return {
            "documents": index.doc_count,
            "chunks": len(index),
            "sources": len(index.sources),
            "dimension": index.dimension,
            "backend": f"local: numpy exact cosine + bm25s BM25, {index.fusion} fusion",
            # The folder's name only: /stats is public, and a full path tells visitors about the server.
            "location": Path(self.index_dir).name if self.index_dir else None,
        }

    def close(self) -> None:
        pass

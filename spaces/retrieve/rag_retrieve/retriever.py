"""`Retriever`: ingestion and search over a persistent hybrid index, with no UI."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from .chunking import TokenChunker
from .documents import Chunk, Document, load_paths
from .embedder import DEFAULT_MODEL, SentenceTransformerEmbedder
from .filters import parse_clauses
from .index import DEFAULT_FUSION, MODES, Hit, HybridIndex
from .stores import STORES, IndexStore, LocalIndex

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]


@dataclass
class IngestReport:
    """What an ingestion did."""

    documents: int = 0
    chunks_added: int = 0
    duplicates_skipped: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"Indexed {self.chunks_added} new chunks from {self.documents} documents "
            f"({self.duplicates_skipped} duplicate chunks skipped) in {self.seconds:.1f} s."
        ]
        lines += [f"Skipped: {e}" for e in self.errors]
        return "\n".join(lines)


class Retriever:
    """Chunks, embeds and indexes documents; answers dense, BM25 and hybrid queries.

    Usage:
        retriever = Retriever(index_dir="index")
        retriever.ingest_paths(["docs/"])
        hits = retriever.search("how do I deploy?", k=5, mode="hybrid")

    Args:
        model: embedding model, a Hub id or a local path.
        index_dir: where the index persists; None keeps it in memory only.
        chunk_tokens: chunk size in model tokens, special tokens and title included;
            None uses the model's max_seq_length, so no chunk is ever truncated.
        chunk_overlap: tokens shared by consecutive chunks.
        batch_size: texts per embedding batch.
        fusion: how hybrid mode fuses dense and BM25 scores (zscore, convex or rrf).
        max_file_bytes: larger files are refused.
        embedder: an already-loaded embedder to share (one model per process).
        backend: where chunks are stored and searched: "local" (numpy + bm25s, saved in
            `index_dir`) or "qdrant" (needs requirements-scale.txt; see qdrant_index.py).
        qdrant_url: a Qdrant server or cluster; empty runs Qdrant embedded in `index_dir`/qdrant.
        qdrant_api_key: the server's API key.
        qdrant_collection: the collection that holds the chunks.
    """

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        index_dir: str | Path | None = None,
        chunk_tokens: int | None = None,
        chunk_overlap: int = 32,
        batch_size: int = 64,
        fusion: str = DEFAULT_FUSION,
        max_file_bytes: int = 50 * 2**20,
        embedder: SentenceTransformerEmbedder | None = None,
        backend: str = "local",
        qdrant_url: str = "",
        qdrant_api_key: str = "",
        qdrant_collection: str = "rag_chunks",
    ):
        if backend not in STORES:
            raise ValueError(f"backend must be one of {', '.join(STORES)}, but got {backend!r}")
        self.embedder = embedder or SentenceTransformerEmbedder(model, batch_size=batch_size)
        self.model_name = self.embedder.model_name
        self.index_dir = Path(index_dir) if index_dir is not None else None
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap
        self.fusion = fusion
        self.max_file_bytes = max_file_bytes
        self.store_name = backend
        self._qdrant = {"url": qdrant_url, "api_key": qdrant_api_key, "collection": qdrant_collection}
        self._chunker: TokenChunker | None = None
        self._store: IndexStore | None = None
        self._write_lock = threading.Lock()

    @classmethod
    def from_settings(cls, s, **overrides) -> "Retriever":
        """A Retriever configured by the Space's `Settings` (config.py); `overrides` win."""
        kwargs = dict(
            model=s.embed_model,
            index_dir=s.index_dir,
            chunk_tokens=s.chunk_tokens,
            chunk_overlap=s.chunk_overlap,
            batch_size=s.batch_size,
            fusion=s.fusion,
            max_file_bytes=s.max_file_bytes,
            backend=s.backend,
            qdrant_url=s.qdrant_url,
            qdrant_api_key=s.qdrant_api_key,
            qdrant_collection=s.qdrant_collection,
        )
        return cls(**{**kwargs, **overrides})

    def warm_up(self) -> None:
        """Load the model and open the stored index (refusing one built with another model)."""
        if self._store is not None:
            return
        self.embedder.warm_up()
        limit = self.embedder.max_seq_length
        size = min(self.chunk_tokens or limit, limit)
        self._chunker = TokenChunker(self.embedder.tokenizer, max_tokens=size, overlap=self.chunk_overlap)
        dimension = self.embedder.dimension
        if self.store_name == "qdrant":
            from .qdrant_index import QdrantIndex  # optional dependency: imported only when asked for

            q = self._qdrant
            path = None if q["url"] or self.index_dir is None else self.index_dir / "qdrant"
            if not q["url"] and path is None:
                raise ValueError("The qdrant backend needs QDRANT_URL or an index_dir for embedded mode.")
            self._store = QdrantIndex(
                model=self.model_name,
                dimension=dimension,
                fusion=self.fusion,
                url=q["url"],
                api_key=q["api_key"],
                path=path,
                collection=q["collection"],
            )
        else:
            self._store = LocalIndex(self.index_dir, model=self.model_name, dimension=dimension, fusion=self.fusion)

    @property
    def store(self) -> IndexStore:
        self.warm_up()
        return self._store

    @property
    def index(self) -> HybridIndex:
        """The local store's current snapshot (exact vectors and chunks), for inspection."""
        if not isinstance(self.store, LocalIndex):
            raise TypeError(
                f"Retriever.index is the local store's snapshot; this Retriever uses {self.store.name}. Use Retriever.store."
            )
        return self.store.snapshot

    def __len__(self) -> int:
        """How many chunks are indexed."""
        return len(self.store)

    def close(self) -> None:
        """Release the store (embedded Qdrant holds its folder until then)."""
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def chunker(self) -> TokenChunker:
        self.warm_up()
        return self._chunker

    # -- writes ----------------------------------------------------------------------

    def ingest(self, documents: Sequence[Document], *, progress: ProgressFn | None = None) -> IngestReport:
        """Chunk, embed and index documents, then persist. Duplicate chunks are skipped."""
        start = time.perf_counter()
        report = IngestReport(documents=len(documents))
        progress = progress or (lambda frac, desc: None)
        with self._write_lock:
            store = self.store
            progress(0.0, "Chunking")
            chunks: list[Chunk] = [c for doc in documents for c in self.chunker.chunk(doc)]
            fresh = store.new_chunks(chunks)
            report.duplicates_skipped = len(chunks) - len(fresh)
            vectors = self._embed_with_progress([c.embed_text for c in fresh], progress)
            progress(0.95, "Saving the index")
            store.add(fresh, vectors)
            report.chunks_added = len(fresh)
        report.seconds = time.perf_counter() - start
        progress(1.0, "Done")
        return report

    def _embed_with_progress(self, texts: list[str], progress: ProgressFn):
        import numpy as np

        step = max(self.embedder.batch_size * 8, 256)
        parts = []
        for i in range(0, len(texts), step):
            progress(0.05 + 0.9 * i / max(len(texts), 1), f"Embedding {i}/{len(texts)} chunks")
            parts.append(self.embedder.embed(texts[i : i + step]))
        return np.vstack(parts) if parts else np.zeros((0, self.embedder.dimension), dtype=np.float32)

    def ingest_paths(self, paths: Iterable[str | Path], *, progress: ProgressFn | None = None) -> IngestReport:
        """Load folders (recursively) and files, then ingest them. Bad files are reported, not fatal."""
        docs, errors = load_paths(paths, max_bytes=self.max_file_bytes)
        report = self.ingest(docs, progress=progress) if docs else IngestReport()
        report.errors = errors + report.errors
        return report

    def delete_source(self, source: str) -> int:
        """Remove every chunk of `source`; returns how many were removed."""
        with self._write_lock:
            return self.store.delete_source(source)

    # -- reads -----------------------------------------------------------------------

    def search(self, query: str, *, k: int = 5, mode: str = "hybrid", filters: str = "") -> list[Hit]:
        """The k best chunks for `query`, best first. See filters.py for the filter grammar."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, but got {mode!r}")
        clauses = parse_clauses(filters)
        vector = self.embedder.embed([query])[0] if mode != "bm25" else None
        return self.store.search(vector, query, k=k, mode=mode, clauses=clauses)

    def sources(self) -> list[dict]:
        """Every indexed source with its document and chunk counts, by name."""
        return self.store.sources()

    def stats(self) -> dict:
        s = self.store.stats()
        return {
            "documents": s["documents"],
            "chunks": s["chunks"],
            "sources": s["sources"],
            "model": public_name(self.model_name),
            "model_loaded_from": public_name(self.embedder.loaded_from or ""),
            "dimension": s["dimension"],
            "chunk_tokens": self.chunker.max_tokens,
            "backend": s["backend"],
            "index_dir": s["location"],
        }


def public_name(name: str) -> str:
    """A model name a visitor may see: a local folder by its last part only, never its path."""
    if name.startswith(("/", "./", "../", "~")) or "\\" in name:
        return f"{Path(name.rstrip('/')).name} (a local folder)"
    return name

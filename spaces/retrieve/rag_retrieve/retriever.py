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
from .filters import parse_filters
from .index import DEFAULT_FUSION, Hit, HybridIndex

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
    ):
        self.embedder = embedder or SentenceTransformerEmbedder(model, batch_size=batch_size)
        self.model_name = self.embedder.model_name
        self.index_dir = Path(index_dir) if index_dir is not None else None
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap
        self.fusion = fusion
        self.max_file_bytes = max_file_bytes
        self._chunker: TokenChunker | None = None
        self._index: HybridIndex | None = None
        self._write_lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the model and the stored index (refusing one built with another model)."""
        if self._index is not None:
            return
        self.embedder.warm_up()
        limit = self.embedder.max_seq_length
        size = min(self.chunk_tokens or limit, limit)
        self._chunker = TokenChunker(self.embedder.tokenizer, max_tokens=size, overlap=self.chunk_overlap)
        index = HybridIndex.load(self.index_dir, model=self.model_name) if self.index_dir else None
        if index is not None and index.fusion != self.fusion:
            index = HybridIndex(index.chunks, index.vectors, model=index.model, bm25=index.bm25, fusion=self.fusion)
        self._index = index or HybridIndex.empty(model=self.model_name, dimension=self.embedder.dimension, fusion=self.fusion)

    @property
    def index(self) -> HybridIndex:
        self.warm_up()
        return self._index

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
            index = self.index
            progress(0.0, "Chunking")
            chunks: list[Chunk] = [c for doc in documents for c in self.chunker.chunk(doc)]
            fresh = index.new_chunks(chunks)
            report.duplicates_skipped = len(chunks) - len(fresh)
            vectors = self._embed_with_progress([c.embed_text for c in fresh], progress)
            progress(0.95, "Saving the index")
            new = index.added(fresh, vectors)
            if self.index_dir is not None and new is not index:
                new.save(self.index_dir)
            self._index = new  # readers switch to the new snapshot only once it is saved
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
            index = self.index
            new = index.without_source(source)
            if new is not index and self.index_dir is not None:
                new.save(self.index_dir)
            self._index = new
            return len(index) - len(new)

    # -- reads -----------------------------------------------------------------------

    def search(self, query: str, *, k: int = 5, mode: str = "hybrid", filters: str = "") -> list[Hit]:
        """The k best chunks for `query`, best first. See filters.py for the filter grammar."""
        where = parse_filters(filters)
        index = self.index  # one snapshot for the whole query
        vector = self.embedder.embed([query])[0] if mode != "bm25" else None
        return index.search(vector, query, k=k, mode=mode, where=where)

    def sources(self) -> list[dict]:
        """Every indexed source with its document and chunk counts, by name."""
        docs: dict[str, set] = {}
        chunks: dict[str, int] = {}
        for c in self.index.chunks:
            docs.setdefault(c.source, set()).add(c.doc_id)
            chunks[c.source] = chunks.get(c.source, 0) + 1
        return [{"source": s, "documents": len(docs[s]), "chunks": chunks[s]} for s in sorted(chunks)]

    def stats(self) -> dict:
        index = self.index
        return {
            "documents": index.doc_count,
            "chunks": len(index),
            "sources": len(index.sources),
            "model": self.model_name,
            "model_loaded_from": self.embedder.loaded_from,
            "dimension": index.dimension,
            "chunk_tokens": self.chunker.max_tokens,
            "backend": f"numpy exact cosine + bm25s BM25, {index.fusion} fusion",
            "index_dir": str(self.index_dir) if self.index_dir else None,
        }

"""`QdrantIndex`: the index in a Qdrant collection, for collections past one machine.

Needs `pip install -r requirements-scale.txt` (qdrant-client). With `url`, it talks to a Qdrant
server or cluster; without, it runs qdrant-client's embedded mode in a folder, which one
process at a time may open (so the Space and a bulk ingest cannot share it: use a server).

Each chunk is one point: a named dense vector (cosine) and a named sparse vector for BM25.
The sparse vector holds each term's Lucene BM25 term-frequency weight, tf / (tf + k1 (1 - b +
b dl / avgdl)), and Qdrant's IDF modifier multiplies in ln(1 + (N - n + 0.5) / (n + 0.5)) at
query time, so BM25 scores are bm25s's (same tokenizer, stemmer and stopwords), with the
average length as of the write. Hybrid mode takes each list's top candidates from Qdrant,
looks up each candidate's score in the other list, and fuses them with our own fusion
functions, so it ranks as the local index does (BENCHMARKS.md). The point id is derived from
the chunk's normalised text and title, so writing a chunk again replaces it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from .documents import Chunk
from .filters import Clause, predicate
from .fusion import FUSIONS
from .index import FUSION_DEPTH, BM25Scorer, Hit, IndexMismatchError, IndexWriteError
from .qdrant_points import bm25_weights, chunk_of, grams, payload, point_id, query_weights
from .stores import IndexUnavailable

log = logging.getLogger(__name__)

DENSE, SPARSE = "dense", "bm25"
_META_ID = 1


class QdrantUnavailable(IndexUnavailable):
    """qdrant-client is missing, the server cannot be reached, or the folder is in use."""


def _client(QdrantClient, url: str, api_key: str, path, timeout: float):
    """A client of the Qdrant server at `url`, or of embedded Qdrant in the folder `path`."""
    if url:
        return QdrantClient(url=url, api_key=api_key or None, timeout=int(timeout))
    if path is None:
        raise ValueError("QdrantIndex needs a url (a Qdrant server) or a path (embedded mode)")
    Path(path).mkdir(parents=True, exist_ok=True)
    try:
        return QdrantClient(path=str(path))
    except RuntimeError as exc:  # portalocker: another process holds the folder
        raise QdrantUnavailable(
            f"The Qdrant folder {path} is open in another process ({exc}). Embedded Qdrant allows one process "
            "at a time: stop the other one, or run a Qdrant server and set QDRANT_URL."
        ) from None


class QdrantIndex:
    """The index in a Qdrant collection. See the module docstring.

    Usage:
        index = QdrantIndex(model="sentence-transformers/all-MiniLM-L6-v2", dimension=384, path="index/qdrant")
        index.add(index.new_chunks(chunks), vectors)
        hits = index.search(query_vector, "query", k=5, mode="hybrid", clauses=[])

    Args:
        model: the embedding model's name; a collection built with another is refused.
        dimension: the embedding size.
        fusion: hybrid fusion (zscore, convex or rrf), as for the local index.
        url: a Qdrant server or cluster (QDRANT_URL); empty uses embedded mode in `path`.
        api_key: the server's API key (QDRANT_API_KEY); never logged.
        path: the folder for embedded mode.
        collection: the collection's name (QDRANT_COLLECTION).
        batch_size: points per upsert request.
    """

    name = "qdrant"

    def __init__(
        self,
        *,
        model: str,
        dimension: int,
        fusion: str = "zscore",
        url: str = "",
        api_key: str = "",
        path: str | Path | None = None,
        collection: str = "rag_chunks",
        batch_size: int = 256,
        timeout: float = 60,
    ):
        try:
            from qdrant_client import QdrantClient, models
        except ImportError:
            raise QdrantUnavailable(
                "RETRIEVE_BACKEND=qdrant needs qdrant-client: pip install -r requirements-scale.txt"
            ) from None
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {sorted(FUSIONS)}, but got {fusion!r}")
        self.models = models
        self.model, self.dimension, self.fusion, self.collection, self.batch_size = (
            model,
            dimension,
            fusion,
            collection,
            batch_size,
        )
        self.url = url
        self.location = url or str(path)
        self.client = _client(QdrantClient, url, api_key, path, timeout)
        try:
            self._open()
        except (IndexMismatchError, ValueError):
            raise
        except Exception as exc:
            raise QdrantUnavailable(
                f"Cannot use Qdrant at {self.location}: {type(exc).__name__}: {exc}. Check QDRANT_URL and QDRANT_API_KEY."
            ) from None

    # -- the collection and its bookkeeping ----------------------------------------------

    def _open(self) -> None:
        m, meta = self.models, f"{self.collection}__meta"
        if not self.client.collection_exists(meta):
            self.client.create_collection(meta, vectors_config={})
        found = self.client.retrieve(meta, ids=[_META_ID], with_payload=True)
        if found:
            stored = found[0].payload
            if stored.get("model") != self.model:
                raise IndexMismatchError(
                    f"The Qdrant collection '{self.collection}' at {self.location} was built with '{stored.get('model')}', not '{self.model}'. "
                    f"Set RETRIEVE_EMBED_MODEL={stored.get('model')}, or choose another QDRANT_COLLECTION."
                )
            self._bm25 = {"n": int(stored.get("n", 0)), "tokens": int(stored.get("tokens", 0))}
        else:
            self._bm25 = {"n": 0, "tokens": 0}
            self._save_meta()
        if not self.client.collection_exists(self.collection):
            self.client.create_collection(
                self.collection,
                vectors_config={DENSE: m.VectorParams(size=self.dimension, distance=m.Distance.COSINE)},
                sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
            )
            if self.url:  # embedded mode has no payload indexes; a server needs them for facets and fast filters
                for key in ("source", "first"):
                    schema = m.PayloadSchemaType.KEYWORD if key == "source" else m.PayloadSchemaType.BOOL
                    self.client.create_payload_index(self.collection, key, field_schema=schema)

    def _save_meta(self) -> None:
        self.client.upsert(
            f"{self.collection}__meta",
            [
                self.models.PointStruct(
                    id=_META_ID, vector={}, payload={"model": self.model, "dimension": self.dimension, **self._bm25}
                )
            ],
        )

    def __len__(self) -> int:
        return self.client.count(self.collection, exact=True).count

    # -- writes -----------------------------------------------------------------------

    def new_chunks(self, chunks: Sequence[Chunk]) -> list[Chunk]:
        fresh: dict[str, Chunk] = {}
        for c in chunks:
            fresh.setdefault(point_id(c), c)
        ids = list(fresh)
        for i in range(0, len(ids), 1000):
            for record in self.client.retrieve(
                self.collection, ids=ids[i : i + 1000], with_payload=False, with_vectors=False
            ):
                fresh.pop(str(record.id), None)
        return list(fresh.values())

    def add(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if not len(chunks):
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(chunks), self.dimension):
            raise ValueError(f"expected vectors of shape {(len(chunks), self.dimension)}, got {vectors.shape}")
        tokens = BM25Scorer._tokenize([c.embed_text for c in chunks])
        self._bm25 = {"n": self._bm25["n"] + len(chunks), "tokens": self._bm25["tokens"] + sum(map(len, tokens))}
        avgdl = self._bm25["tokens"] / self._bm25["n"]
        try:
            self._upsert(chunks, vectors, tokens, avgdl)
        except Exception as exc:
            raise IndexWriteError(
                None,
                f"Could not write to Qdrant at {self.location}: {type(exc).__name__}: {exc}. Chunks written before the failure "
                "stay, each whole; send the same files again to finish (what is already indexed is skipped). Check QDRANT_URL and the server.",
            ) from exc
        self._save_meta()

    def _upsert(self, chunks, vectors, tokens, avgdl: float) -> None:
        m = self.models
        for i in range(0, len(chunks), self.batch_size):
            points = []
            for c, v, t in zip(
                chunks[i : i + self.batch_size], vectors[i : i + self.batch_size], tokens[i : i + self.batch_size]
            ):
                sparse = bm25_weights(t, avgdl)
                points.append(
                    m.PointStruct(
                        id=point_id(c),
                        vector={
                            DENSE: v.tolist(),
                            SPARSE: m.SparseVector(indices=list(sparse), values=list(sparse.values())),
                        },
                        payload=payload(c),
                    )
                )
            self.client.upsert(self.collection, points, wait=True)

    def delete_source(self, source: str) -> int:
        where = self._match("source", source)
        try:
            n = self.client.count(self.collection, count_filter=where, exact=True).count
            if n:
                self.client.delete(self.collection, points_selector=self.models.FilterSelector(filter=where), wait=True)
        except Exception as exc:
            raise IndexWriteError(
                None,
                f"Could not delete '{source}' in Qdrant at {self.location}: {type(exc).__name__}: {exc}. Try again once the server answers (QDRANT_URL).",
            ) from exc
        return n

    # -- reads ------------------------------------------------------------------------

    def search(self, query_vector, query: str, *, k: int, mode: str, clauses: list[Clause]) -> list[Hit]:
        try:
            return self._filtered_search(query_vector, query, k=k, mode=mode, clauses=clauses)
        except Exception as exc:
            if isinstance(exc, (ValueError, IndexUnavailable)):
                raise
            raise QdrantUnavailable(
                f"Qdrant at {self.location} did not answer the search: {type(exc).__name__}: {exc}. Check "
                "that the server is up, and QDRANT_URL and QDRANT_API_KEY."
            ) from exc

    def _filtered_search(self, query_vector, query: str, *, k: int, mode: str, clauses: list[Clause]) -> list[Hit]:
        check = predicate([c for c in clauses if c.op == "~"])
        if check is None:
            return self._search(query_vector, query, k=k, mode=mode, where=self._filter(clauses))
        # n-grams admit a few chunks that lack the substring: ask for more until k true ones are found.
        limit = k
        while True:
            hits = self._search(query_vector, query, k=limit, mode=mode, where=self._filter(clauses))
            kept = [h for h in hits if check(h.chunk)]
            if len(kept) >= k or len(hits) < limit:
                return kept[:k]
            limit *= 4

    def _search(self, query_vector, query: str, *, k: int, mode: str, where) -> list[Hit]:
        if mode == "dense":
            return [
                Hit(chunk_of(p.payload), float(p.score), round(1.0 - float(p.score), 6))
                for p in self._query(self._dense(query_vector), DENSE, k, where)
            ]
        sparse = self._sparse(query)
        if mode == "bm25":
            if sparse is None:
                return []
            return [Hit(chunk_of(p.payload), float(p.score)) for p in self._query(sparse, SPARSE, k, where)]
        depth = max(FUSION_DEPTH, k)
        dense_pts = self._query(self._dense(query_vector), DENSE, depth, where)
        sparse_pts = self._query(sparse, SPARSE, depth, where) if sparse is not None else []
        dense = {str(p.id): float(p.score) for p in dense_pts}
        bm25 = {str(p.id): float(p.score) for p in sparse_pts}
        payloads = {str(p.id): p.payload for p in [*dense_pts, *sparse_pts]}
        # A candidate of one list is scored in the other too, as the local index does.
        dense.update(self._scores(self._dense(query_vector), DENSE, [i for i in bm25 if i not in dense]))
        if sparse is not None:
            bm25.update(self._scores(sparse, SPARSE, [i for i in dense if i not in bm25]))
        ids = list(payloads)
        if not ids:
            return []
        d = np.array([dense.get(i, -1.0) for i in ids], dtype=np.float32)
        s = np.array([bm25.get(i, 0.0) for i in ids], dtype=np.float32)
        idx, fused = FUSIONS[self.fusion](d, s, depth=depth)
        return [
            Hit(chunk_of(payloads[ids[j]]), float(v), round(1.0 - float(d[j]), 6)) for j, v in zip(idx[:k], fused[:k])
        ]

    def _dense(self, query_vector) -> list[float]:
        return np.asarray(query_vector, dtype=np.float32).tolist()

    def _sparse(self, query: str):
        weights = query_weights(BM25Scorer._tokenize([query])[0])
        return self.models.SparseVector(indices=list(weights), values=list(weights.values())) if weights else None

    def _query(self, query, using: str, limit: int, where, *, with_payload: bool = True):
        return self.client.query_points(
            self.collection, query=query, using=using, limit=limit, query_filter=where, with_payload=with_payload
        ).points

    def _scores(self, query, using: str, ids: list[str]) -> dict[str, float]:
        if not ids:
            return {}
        only = self.models.Filter(must=[self.models.HasIdCondition(has_id=ids)])
        return {str(p.id): float(p.score) for p in self._query(query, using, len(ids), only, with_payload=False)}

    def _match(self, key: str, value) -> object:
        m = self.models
        return m.Filter(must=[m.FieldCondition(key=key, match=m.MatchValue(value=value))])

    def _filter(self, clauses: list[Clause]):
        """The filter grammar as a Qdrant payload filter, over lower-cased copies of the fields
        (`f.*`): `=` and `!=` match the whole value. Qdrant has no substring match (its text
        match is by whole words), so `~` requires every character n-gram (up to 3) of the value
        among the field's n-grams (`g.*`): a superset of the substring matches, which `search`
        then checks exactly."""
        if not clauses:
            return None
        m = self.models
        must, must_not = [], []
        for c in clauses:
            if c.op == "~":
                must += [
                    m.FieldCondition(key=f"g.{c.field}", match=m.MatchValue(value=g))
                    for g in sorted(grams(c.value, exact=True))
                ]
            else:
                (must if c.op == "=" else must_not).append(
                    m.FieldCondition(key=f"f.{c.field}", match=m.MatchValue(value=c.value))
                )
        return m.Filter(must=must or None, must_not=must_not or None)

    def sources(self) -> list[dict]:
        chunks = self._facet()
        docs = self._facet(self._match("first", True))
        return [{"source": s, "documents": docs.get(s, 0), "chunks": n} for s, n in sorted(chunks.items())]

    def _facet(self, where=None) -> dict[str, int]:
        hits = self.client.facet(self.collection, key="source", facet_filter=where, limit=1_000_000, exact=True).hits
        return {str(h.value): int(h.count) for h in hits}

    def stats(self) -> dict:
        docs = self.client.count(self.collection, count_filter=self._match("first", True), exact=True).count
        return {
            "documents": docs,
            "chunks": len(self),
            "sources": len(self._facet()),
            "dimension": self.dimension,
            "backend": f"qdrant ({'server' if self.url else 'embedded'}): cosine + BM25 sparse vectors, {self.fusion} fusion",
            "location": f"{'a Qdrant server' if self.url else 'embedded Qdrant'} · collection {self.collection}",
        }

    def close(self) -> None:
        self.client.close()

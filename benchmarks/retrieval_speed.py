"""Retrieval speed: ingest throughput against raw encode, and query latency at scale.

    python benchmarks/retrieval_speed.py [BEIR_DIR] [--json] [--docs 400] [--sizes 10000,100000]

1. Ingest: `Retriever.ingest` (chunking, dedup, embedding, BM25, atomic save) on real
   documents, next to raw `SentenceTransformer.encode` on the same chunk texts,
   interleaved, median of the rounds. `ingest/ratio_to_raw` = ingest chunks/s / raw chunks/s.
2. Query latency at each size, per mode, over real query texts: `query_p50_ms/<mode>/<n>`
   is the whole query in process (embedding the query, scoring, fusion, top k);
   `search_p50_ms/<mode>/<n>` leaves out the query embedding. Vectors are synthetic unit
   vectors (the scale test needs their size, not their meaning); BM25 runs over real
   passages repeated to size.
3. `matrix_read_ms/<n>`: one pass over the vector matrix (a sum), the physical floor of
   an exact dense scan.
4. `--backend qdrant|both`: the same chunks and vectors in embedded Qdrant (a temporary
   folder), `qdrant_search_p50_ms/<mode>/<n>` through `QdrantIndex.search` (k=10), and the
   time to write them. Embedded Qdrant is qdrant-client's pure-Python reference engine, so
   these bound what the code adds, not what a Qdrant server costs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import numpy as np
import torch
from _common import DEFAULT_BEIR, Report, load_beir, median, percentile
from rag_retrieve.documents import Chunk, Document
from rag_retrieve.index import HybridIndex
from rag_retrieve.retriever import Retriever


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("beir_dir", nargs="?", default=str(DEFAULT_BEIR))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--docs", type=int, default=400, help="documents for the ingest test")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--backend", choices=("local", "qdrant", "both"), default="local")
    args = ap.parse_args()

    corpus, queries, _ = load_beir(args.beir_dir)
    report = Report("Retrieval speed", args.json)
    docs = [
        Document(id=i, text=o["text"], source="corpus.jsonl", title=o.get("title", ""))
        for i, o in list(corpus.items())[: args.docs]
    ]

    # -- ingest vs raw encode ----------------------------------------------------------
    probe = Retriever()
    probe.warm_up()
    embedder = probe.embedder
    texts = [c.embed_text for d in docs for c in probe.chunker.chunk(d)]
    raw_t, ingest_t = [], []
    for _ in range(0 if args.skip_ingest else args.rounds):
        t = time.perf_counter()
        embedder.model.encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True, convert_to_numpy=True)
        raw_t.append(time.perf_counter() - t)
        with tempfile.TemporaryDirectory() as tmp:
            r = Retriever(index_dir=tmp, embedder=embedder)
            r.warm_up()
            t = time.perf_counter()
            r.ingest(docs)
            ingest_t.append(time.perf_counter() - t)
    n = len(texts)
    if not args.skip_ingest:
        report.add("ingest/raw_encode_chunks_s", n / median(raw_t), "chunk/s", f"{n} chunks of {len(docs)} docs")
        report.add("ingest/chunks_s", n / median(ingest_t), "chunk/s", "chunk + embed + BM25 + atomic save")
        report.add("ingest/ratio_to_raw", median(raw_t) / median(ingest_t), "ratio", "target >= 0.9")

    # -- query latency at scale ----------------------------------------------------------
    qtexts = list(queries.values())[: args.queries]
    passages = [f"{o.get('title', '')}\n{o['text']}" for o in corpus.values()]
    rng = np.random.default_rng(0)
    for size in [int(s) for s in args.sizes.split(",") if s]:
        chunks = [
            Chunk(
                id=f"c{i}",
                doc_id=f"d{i}",
                text=passages[i % len(passages)],
                source="synthetic",
                title="",
                position=0,
                start=0,
                end=0,
            )
            for i in range(size)
        ]
        vecs = rng.standard_normal((size, embedder.dimension), dtype=np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        index = HybridIndex(chunks, vecs, model=probe.model_name)
        qvecs = embedder.embed(qtexts)
        as_tensor = torch.from_numpy(vecs)
        report.add(
            f"matrix_read_ms/{size}",
            1000 * median(timed(lambda: as_tensor.sum(), 20)),
            "ms",
            f"{vecs.nbytes / 2**20:.0f} MiB float32, one multi-threaded sum",
        )
        if args.backend in ("qdrant", "both"):
            qdrant_speed(report, chunks, vecs, qtexts, qvecs, probe.model_name, size)
        if args.backend == "qdrant":
            continue
        for mode in ("dense", "bm25", "hybrid"):
            full, search = [], []
            for q, qv in zip(qtexts, qvecs):
                t = time.perf_counter()
                v = embedder.embed([q])[0] if mode != "bm25" else None
                t1 = time.perf_counter()
                index.search(v if v is not None else qv, q, k=10, mode=mode)
                t2 = time.perf_counter()
                full.append(t2 - t)
                search.append(t2 - t1)
            report.add(f"query_p50_ms/{mode}/{size}", 1000 * median(full), "ms", "embed query + search")
            report.add(f"query_p95_ms/{mode}/{size}", 1000 * percentile(full, 95), "ms")
            report.add(f"search_p50_ms/{mode}/{size}", 1000 * median(search), "ms", "search only")
    report.print()
    return 0


def qdrant_speed(report: Report, chunks, vecs, qtexts, qvecs, model: str, size: int) -> None:
    from rag_retrieve.qdrant_index import QdrantIndex

    with tempfile.TemporaryDirectory() as tmp:
        index = QdrantIndex(model=model, dimension=vecs.shape[1], path=tmp, batch_size=1024)
        t = time.perf_counter()
        for i in range(0, size, 10_000):  # in slices, as a bulk load writes
            index.add(chunks[i : i + 10_000], vecs[i : i + 10_000])
        report.add(f"qdrant_write_s/{size}", time.perf_counter() - t, "s", "embedded Qdrant")
        for mode in ("dense", "bm25", "hybrid"):
            took = timed_each(lambda q, qv: index.search(qv, q, k=10, mode=mode, clauses=[]), qtexts, qvecs)
            report.add(f"qdrant_search_p50_ms/{mode}/{size}", 1000 * median(took), "ms", "embedded Qdrant, search only")
        index.close()


def timed_each(fn, qtexts, qvecs) -> list[float]:
    out = []
    for q, qv in zip(qtexts, qvecs):
        t = time.perf_counter()
        fn(q, qv)
        out.append(time.perf_counter() - t)
    return out


if __name__ == "__main__":
    sys.exit(main())

"""Retrieval quality on a BEIR folder: nDCG@10 and Recall@100 for dense, bm25 and hybrid.

    python benchmarks/retrieval_quality.py [BEIR_DIR] [--json] [--fusions zscore,convex,rrf] [--backend local|qdrant|both]
    python benchmarks/retrieval_quality.py [BEIR_DIR] --rerank [--rerank-depth 20]

Documents go through the Retrieve Space's own ingestion (chunking, title, dedup,
embedding) and search. Chunk rankings become document rankings by each document's
best chunk. Hybrid is reported for the default fusion and, for comparison, the others.
`--backend qdrant` copies the local index's chunks and vectors (the same embeddings) into an
embedded Qdrant collection and ranks with `QdrantIndex.search`; `both` prints the two side by
side with their difference.

`--rerank` reranks hybrid's top 20 documents (their best chunks, as /retrieve returns them) with
the rerank Space's own scorer (`load_scorer`: offline, the project's answer cross-encoder) and
prints `ndcg@10/hybrid+rerank` (the reranker's order), `ndcg@10/hybrid+rerank-fused` (z-scored
reranker logit plus z-scored hybrid score) and `ndcg@10/hybrid+rerank-shipped` (`Reranker.run`, as
the Space ranks: fused, and a statement keeps its input order) beside `ndcg@10/hybrid`.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import sys
import time
from pathlib import Path

from _common import DEFAULT_BEIR, ROOT, Report, load_beir, ndcg_at, recall_at
from rag_retrieve.documents import Document
from rag_retrieve.fusion import FUSIONS
from rag_retrieve.index import DEFAULT_FUSION, HybridIndex
from rag_retrieve.retriever import Retriever


def doc_ranking(index: HybridIndex, chunk_idx, depth: int = 100) -> list[str]:
    seen, ranked = set(), []
    for i in chunk_idx:
        d = index.chunks[i].doc_id
        if d not in seen:
            seen.add(d)
            ranked.append(d)
            if len(ranked) == depth:
                break
    return ranked


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("beir_dir", nargs="?", default=str(DEFAULT_BEIR))
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument("--fusions", default=",".join(FUSIONS), help="hybrid fusions to compare")
    ap.add_argument("--max-queries", type=int, default=0)
    ap.add_argument("--rerank", action="store_true", help="also rerank hybrid's top documents (see above)")
    ap.add_argument("--rerank-depth", type=int, default=20)
    ap.add_argument("--backend", choices=("local", "qdrant", "both"), default="local")
    ap.add_argument(
        "--index-dir",
        default=None,
        help="persist the index here and reuse it on later runs (default: .cache/bench/<folder name>)",
    )
    args = ap.parse_args()

    corpus, queries, qrels = load_beir(args.beir_dir)
    if args.max_queries:
        queries = dict(list(queries.items())[: args.max_queries])
    docs = [
        Document(id=i, text=o.get("text", ""), source="corpus.jsonl", title=o.get("title", ""))
        for i, o in corpus.items()
    ]

    index_dir = Path(args.index_dir or ROOT / ".cache" / "bench" / Path(args.beir_dir).name)
    retriever = Retriever(index_dir=index_dir)
    t0 = time.perf_counter()
    if len(retriever.index) == 0:
        ingest = retriever.ingest(docs)
        ingest_note = f"{ingest.chunks_added} chunks, {ingest.duplicates_skipped} duplicates"
    else:
        ingest_note = f"reused the index in {index_dir}"
    index = retriever.index
    report = Report(
        f"Retrieval quality on {args.beir_dir} ({len(docs)} docs, {len(index)} chunks, {len(queries)} queries)",
        args.json,
    )
    report.add("ingest_s", time.perf_counter() - t0, "s", ingest_note)

    qids = list(queries)
    qvecs = retriever.embedder.embed([queries[q] for q in qids])
    runs = [("dense", None), ("bm25", None)] + [("hybrid", f) for f in args.fusions.split(",") if f]
    backends = {}
    if args.backend in ("local", "both"):
        backends["local"] = (
            lambda f: setattr(index, "fusion", f),
            lambda vec, q, mode: doc_ranking(index, index.scores(vec, q, mode, depth=1000)[0]),
        )
    if args.backend in ("qdrant", "both"):
        qdrant = open_qdrant(index, index_dir.with_name(index_dir.name + "-qdrant"), report)
        backends["qdrant"] = (
            lambda f: setattr(qdrant, "fusion", f),
            lambda vec, q, mode: hit_ranking(qdrant.search(vec, q, k=1000, mode=mode, clauses=[])),
        )
    results: dict[tuple[str, str], tuple[float, float]] = {}
    for backend, (set_fusion, rank) in backends.items():
        for mode, fusion in runs:
            set_fusion(fusion or DEFAULT_FUSION)
            ndcg, rec, took = [], [], []
            for qid, vec in zip(qids, qvecs):
                t = time.perf_counter()
                ranked = rank(vec, queries[qid], mode)
                took.append(time.perf_counter() - t)
                ndcg.append(ndcg_at(ranked, qrels[qid]))
                rec.append(recall_at(ranked, qrels[qid]))
            name = mode if fusion in (None, DEFAULT_FUSION) else f"{mode}-{fusion}"
            note = f"fusion={fusion} (default)" if fusion == DEFAULT_FUSION else (f"fusion={fusion}" if fusion else "")
            tag = "" if args.backend == "local" else f"/{backend}"
            results[(backend, name)] = (sum(ndcg) / len(ndcg), sum(rec) / len(rec))
            report.add(f"ndcg@10/{name}{tag}", results[(backend, name)][0], "score", note)
            report.add(f"recall@100/{name}{tag}", results[(backend, name)][1], "score", note)
            if args.backend != "local":
                report.add(
                    f"search_p50_ms/{name}{tag}", 1000 * statistics.median(took), "ms", "top 1000 chunks, in process"
                )
    if args.rerank:
        rerank_rows(index, qids, qvecs, queries, qrels, args.rerank_depth, report)
    if args.backend == "both":
        for (backend, name), (ndcg, _) in results.items():
            if backend == "qdrant":
                report.add(
                    f"ndcg@10_diff/{name}",
                    ndcg - results[("local", name)][0],
                    "score",
                    "qdrant - local (target: within 0.005)",
                )
    report.print()
    return 0


def rerank_rows(index: HybridIndex, qids, qvecs, queries, qrels, depth: int, report: Report) -> None:
    """nDCG@10 of hybrid's top `depth` documents reranked, and fused with the hybrid score."""
    from collections import Counter

    from rag_rerank.reranker import Reranker, fuse_with_retrieval
    from rag_rerank.scorers import load_scorer

    methods: Counter = Counter()
    index.fusion = DEFAULT_FUSION
    choice = load_scorer()
    if choice.scorer is None or choice.scorer.method == "input-order":
        report.add("rerank", float("nan"), "-", f"no cross-encoder loads here: {choice.reason or choice.refused}")
        return
    reranker = Reranker(choice)
    plain, reranked, fused, shipped, took = [], [], [], [], []
    for qid, vec in zip(qids, qvecs):
        idx, scores = index.scores(vec, queries[qid], "hybrid", depth=1000)
        best: dict[str, tuple[int, float]] = {}
        for i, sc in zip(idx, scores):
            best.setdefault(index.chunks[i].doc_id, (int(i), float(sc)))
        ranked = list(best)[:100]
        top = ranked[:depth]
        t = time.perf_counter()
        probs = choice.scorer.score(queries[qid], [index.chunks[best[d][0]].text for d in top])
        took.append(time.perf_counter() - t)
        logits = [math.log(max(p, 1e-6) / max(1 - p, 1e-6)) for p in probs]
        z = list(fuse_with_retrieval(probs, [best[d][1] for d in top]))
        plain.append(ndcg_at(ranked, qrels[qid]))
        reranked.append(ndcg_at(_order(top, logits) + ranked[depth:], qrels[qid]))
        fused.append(ndcg_at(_order(top, z) + ranked[depth:], qrels[qid]))
        table = [{"id": d, "text": index.chunks[best[d][0]].text, "score": best[d][1]} for d in top]
        served = reranker.run(queries[qid], table)
        methods[served.method.split(":")[0]] += 1
        shipped.append(ndcg_at([r[0] for r in served.rows] + ranked[depth:], qrels[qid]))
    note = f"top {depth} by {choice.label}"
    report.add("ndcg@10/hybrid", sum(plain) / len(plain), "score", "the input of the reranker")
    report.add("ndcg@10/hybrid+rerank", sum(reranked) / len(reranked), "score", note)
    report.add("ndcg@10/hybrid+rerank-fused", sum(fused) / len(fused), "score", note + ", z-fused with hybrid")
    how = ", ".join(f"{m}: {n}" for m, n in methods.most_common())
    report.add(
        "ndcg@10/hybrid+rerank-shipped",
        sum(shipped) / len(shipped),
        "score",
        f"Reranker.run as the Space ranks ({how})",
    )
    report.add(f"rerank_p50_ms/{depth}", 1000 * statistics.median(took), "ms", "scoring only, in process")


def _order(docs: list[str], scores: list[float]) -> list[str]:
    return [docs[i] for i in sorted(range(len(docs)), key=lambda i: (-scores[i], i))]


def hit_ranking(hits, depth: int = 100) -> list[str]:
    seen, ranked = set(), []
    for h in hits:
        if h.chunk.doc_id not in seen:
            seen.add(h.chunk.doc_id)
            ranked.append(h.chunk.doc_id)
            if len(ranked) == depth:
                break
    return ranked


def open_qdrant(index: HybridIndex, path: Path, report: Report):
    """An embedded Qdrant collection holding the local index's chunks and vectors, built once."""
    from rag_retrieve.qdrant_index import QdrantIndex

    qdrant = QdrantIndex(model=index.model, dimension=index.dimension, path=path)
    if len(qdrant) != len(index):  # missing or partial: build it again
        qdrant.close()
        shutil.rmtree(path)
        qdrant = QdrantIndex(model=index.model, dimension=index.dimension, path=path)
        t = time.perf_counter()
        qdrant.add(index.chunks, index.vectors)
        report.add(
            "qdrant_write_s", time.perf_counter() - t, "s", f"{len(index)} chunks into embedded Qdrant at {path}"
        )
    return qdrant


if __name__ == "__main__":
    sys.exit(main())

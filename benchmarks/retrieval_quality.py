"""Retrieval quality on a BEIR folder: nDCG@10 and Recall@100 for dense, bm25 and hybrid.

    python benchmarks/retrieval_quality.py [BEIR_DIR] [--json] [--fusions zscore,convex,rrf]

Documents go through the Retrieve Space's own ingestion (chunking, title, dedup,
embedding) and search. Chunk rankings become document rankings by each document's
best chunk. Hybrid is reported for the default fusion and, for comparison, the others.
"""

from __future__ import annotations

import argparse
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
    ap.add_argument("--index-dir", default=None, help="persist the index here and reuse it on later runs (default: .cache/bench/<folder name>)")
    args = ap.parse_args()

    corpus, queries, qrels = load_beir(args.beir_dir)
    if args.max_queries:
        queries = dict(list(queries.items())[: args.max_queries])
    docs = [Document(id=i, text=o.get("text", ""), source="corpus.jsonl", title=o.get("title", "")) for i, o in corpus.items()]

    index_dir = Path(args.index_dir or ROOT / ".cache" / "bench" / Path(args.beir_dir).name)
    retriever = Retriever(index_dir=index_dir)
    t0 = time.perf_counter()
    if len(retriever.index) == 0:
        ingest = retriever.ingest(docs)
        ingest_note = f"{ingest.chunks_added} chunks, {ingest.duplicates_skipped} duplicates"
    else:
        ingest_note = f"reused the index in {index_dir}"
    index = retriever.index
    report = Report(f"Retrieval quality on {args.beir_dir} ({len(docs)} docs, {len(index)} chunks, {len(queries)} queries)", args.json)
    report.add("ingest_s", time.perf_counter() - t0, "s", ingest_note)

    qids = list(queries)
    qvecs = retriever.embedder.embed([queries[q] for q in qids])
    runs = [("dense", None), ("bm25", None)] + [("hybrid", f) for f in args.fusions.split(",") if f]
    for mode, fusion in runs:
        index.fusion = fusion or DEFAULT_FUSION
        ndcg, rec = [], []
        for qid, vec in zip(qids, qvecs):
            idx, _ = index.scores(vec, queries[qid], mode, depth=1000)
            ranked = doc_ranking(index, idx)
            ndcg.append(ndcg_at(ranked, qrels[qid]))
            rec.append(recall_at(ranked, qrels[qid]))
        name = mode if fusion in (None, DEFAULT_FUSION) else f"{mode}-{fusion}"
        note = f"fusion={fusion} (default)" if fusion == DEFAULT_FUSION else (f"fusion={fusion}" if fusion else "")
        report.add(f"ndcg@10/{name}", sum(ndcg) / len(ndcg), "score", note)
        report.add(f"recall@100/{name}", sum(rec) / len(rec), "score", note)
    report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

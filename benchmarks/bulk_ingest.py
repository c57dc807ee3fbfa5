"""Bulk ingest throughput: Ray Data against one process, from files to an indexed collection.

    python benchmarks/bulk_ingest.py [BEIR_DIR] [--docs 2000] [--files 20] [--backend qdrant] [--actors 2] [--json]

The first --docs documents of the BEIR corpus are written as --files JSONL files. Then, each
into a fresh index (embedded Qdrant by default): one process (`Retriever.ingest_paths`: load
the model, read, chunk, embed, write) and `rag_retrieve.bulk_ingest` (start a local Ray
instance, read and parse in tasks, chunk and embed on an actor pool, write in batches). Both
are timed end to end, model loading and Ray's start-up included, and interleaved over
--rounds; `ratio` = Ray chunks/s over single-process chunks/s (target >= 0.9 on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import DEFAULT_BEIR, Report, load_beir, machine, median
from rag_retrieve.bulk_ingest import bulk_ingest, start_ray
from rag_retrieve.config import Settings
from rag_retrieve.retriever import Retriever


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("beir_dir", nargs="?", default=str(DEFAULT_BEIR))
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--backend", choices=("qdrant", "local"), default="qdrant")
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    corpus, _, _ = load_beir(args.beir_dir)
    items = list(corpus.items())[: args.docs]
    report = Report(
        f"Bulk ingest ({len(items)} docs in {args.files} files, backend={args.backend}; {machine()})", args.json
    )
    single, ray_t, chunks = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        files = Path(tmp) / "files"
        files.mkdir()
        for f in range(args.files):
            with open(files / f"part-{f:03d}.jsonl", "w") as out:
                for i, o in items[f :: args.files]:
                    out.write(json.dumps({"_id": i, "title": o.get("title", ""), "text": o.get("text", "")}) + "\n")
        ray_start = time.perf_counter()
        start_ray(2)  # started once, as a cluster would be; its start-up is reported on its own
        report.add("ray_start_s", time.perf_counter() - ray_start, "s", "local instance, 2 CPUs")
        for r in range(args.rounds):
            t = time.perf_counter()
            one = Retriever(index_dir=Path(tmp) / f"single-{r}", backend=args.backend)
            got = one.ingest_paths([files])
            one.close()
            single.append(time.perf_counter() - t)
            chunks = got.chunks_added
            settings = Settings(**{**Settings.from_env().__dict__, "index_dir": Path(tmp) / f"ray-{r}"})
            t = time.perf_counter()
            bulk = bulk_ingest([files], backend=args.backend, settings=settings, actors=args.actors, progress=False)
            ray_t.append(time.perf_counter() - t)
            if bulk.chunks_added != chunks:
                raise SystemExit(f"Ray indexed {bulk.chunks_added} chunks, one process {chunks}: they must agree")
    report.add("single_process_chunks_s", chunks / median(single), "chunk/s", f"{chunks} chunks, model load included")
    report.add(
        "ray_chunks_s", chunks / median(ray_t), "chunk/s", f"{args.actors} embedding actors, actor start-up included"
    )
    report.add("ratio", median(single) / median(ray_t), "ratio", "Ray / one process (target >= 0.9)")
    report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

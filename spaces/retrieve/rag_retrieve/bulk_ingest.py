"""Bulk ingest on Ray Data: read, parse, chunk and embed files in parallel, write in batches.

    python -m rag_retrieve.bulk_ingest PATH... [--backend qdrant|local] [--actors N] [--batch-size 64]

Needs `pip install -r requirements-scale.txt`. The steps are the Space's own: the same file
loaders (`documents.py`), the same `TokenChunker`, the same embedding model and the same index
backends, so a collection built here serves the Retrieve Space unchanged.

- Files are read with `ray.data.read_binary_files` and parsed in Ray tasks.
- Chunking and embedding run in `map_batches` on a pool of actors; each loads the model once.
- The driver writes batches of chunks to the backend, skipping chunks already indexed, with a
  progress bar. Qdrant (`QDRANT_URL`, or embedded in the index folder) takes each batch as it
  comes; the local index is saved once, at the end (it writes whole generations).

Without `RAY_ADDRESS` it starts a local Ray instance bound to 127.0.0.1 with the dashboard
and usage stats off; with it, it joins that cluster. Settings not given on the command line
come from the Retrieve Space's environment (RETRIEVE_*, QDRANT_*).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from .config import Settings
from .documents import Chunk, Document, IngestError, iter_files, load_bytes
from .retriever import IngestReport, Retriever

log = logging.getLogger(__name__)


@dataclass
class BulkReport(IngestReport):
    """What a bulk ingest did: `IngestReport`, plus the files read and all chunks made."""

    files: int = 0
    chunks: int = 0

    def summary(self) -> str:
        rate = self.chunks / self.seconds if self.seconds else 0.0
        lines = [
            f"{self.files} files, {self.documents} documents, {self.chunks} chunks ({self.chunks_added} new) in {self.seconds:.1f} s: {rate:.1f} chunks/s."
        ]
        return "\n".join(lines + [f"Skipped: {e}" for e in self.errors])


def start_ray(num_cpus: int | None = None):
    """Join RAY_ADDRESS, or start a quiet local instance on 127.0.0.1."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    try:
        import ray
    except ImportError:
        raise SystemExit("Bulk ingest needs Ray Data: pip install -r requirements-scale.txt") from None
    if ray.is_initialized():
        return ray
    # Workers import this package from a copy Ray ships them, wherever they run.
    runtime_env = {"py_modules": [str(Path(__file__).resolve().parent)]}
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], runtime_env=runtime_env, log_to_driver=False)
    else:
        ray.init(
            num_cpus=num_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            object_store_memory=512 * 2**20,
            runtime_env=runtime_env,
            log_to_driver=False,
            configure_logging=False,
        )
    ray.data.DataContext.get_current().enable_progress_bars = False
    return ray


def parse_file(row: dict, *, sources: dict[str, str], max_bytes: int) -> list[dict]:
    """One file's bytes into document rows (or one error row), with the Space's loaders."""
    path = os.path.abspath(row["path"])
    source = sources.get(path) or Path(path).name
    try:
        docs = load_bytes(row["bytes"], Path(path).name, source, max_bytes=max_bytes)
    except IngestError as exc:
        return [{"error": str(exc), "id": "", "text": "", "source": source, "title": "", "metadata": "{}"}]
    return [
        {
            "error": "",
            "id": d.id,
            "text": d.text,
            "source": d.source,
            "title": d.title,
            "metadata": json.dumps(d.metadata),
        }
        for d in docs
    ]


class ChunkEmbedder:
    """A Ray actor: loads the embedding model once, then chunks and embeds batches of documents."""

    def __init__(self, model: str, chunk_tokens: int | None, chunk_overlap: int, batch_size: int):
        import torch

        from .chunking import TokenChunker
        from .embedder import SentenceTransformerEmbedder

        torch.set_num_threads(1)  # one core per actor: the pool, not the actor, is the parallelism

        self.embedder = SentenceTransformerEmbedder(model, batch_size=batch_size)
        self.embedder.warm_up()
        limit = self.embedder.max_seq_length
        self.chunker = TokenChunker(
            self.embedder.tokenizer, max_tokens=min(chunk_tokens or limit, limit), overlap=chunk_overlap
        )

    def __call__(self, batch: dict) -> dict:
        chunks: list[Chunk] = []
        errors = []
        for err, i, text, source, title, meta in zip(
            batch["error"], batch["id"], batch["text"], batch["source"], batch["title"], batch["metadata"]
        ):
            if err:
                errors.append(str(err))
                continue
            chunks.extend(
                self.chunker.chunk(
                    Document(id=str(i), text=str(text), source=str(source), title=str(title), metadata=json.loads(meta))
                )
            )
        vectors = self.embedder.embed([c.embed_text for c in chunks])
        rows = [json.dumps(c.__dict__) for c in chunks] + [""] * len(errors)
        return {
            "chunk": rows,
            "vector": [v.tolist() for v in vectors] + [[]] * len(errors),
            "error": [""] * len(chunks) + errors,
        }


def bulk_ingest(
    paths: Sequence[str | os.PathLike],
    *,
    backend: str = "qdrant",
    settings: Settings | None = None,
    actors: int | None = None,
    batch_size: int = 64,
    write_batch: int = 1024,
    num_cpus: int | None = None,
    progress: bool = True,
) -> BulkReport:
    """Ingest files and folders into the configured index backend with Ray Data. See the module docstring.

    Args:
        paths: files and folders (recursively, as the Space's loaders read them).
        backend: "qdrant" or "local".
        settings: the Retrieve Space's settings (default: from the environment).
        actors: embedding actors (default: one per CPU Ray offers).
        batch_size: documents per actor batch.
        write_batch: chunks per write to the backend.
        num_cpus: CPUs of a local Ray instance (default: all).
        progress: show a progress bar.
    """
    s = settings or Settings.from_env()
    start = time.perf_counter()
    report = BulkReport()
    sources = _sources(paths, report)
    files = sorted(sources)
    report.files = len(files)
    if not files:
        report.seconds = time.perf_counter() - start
        return report
    retriever = Retriever.from_settings(s, backend=backend)
    writer = _Writer(retriever.store, report)  # opens (and checks) the collection before work is spread out
    ray = start_ray(num_cpus)
    n_actors = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
    bar = tqdm(desc="Indexing", unit=" chunks", disable=not progress)
    for batch in _dataset(ray, files, sources, s, batch_size, n_actors).iter_batches(
        batch_size=write_batch, batch_format="numpy"
    ):
        bar.update(writer.take(batch))
        if backend != "local" and len(writer.pending) >= write_batch:
            writer.flush()
    writer.flush()  # the local index: once, at the end
    bar.close()
    retriever.close()
    report.documents = len(writer.docs_seen)
    report.duplicates_skipped = report.chunks - report.chunks_added
    report.seconds = time.perf_counter() - start
    return report


def _sources(paths, report: BulkReport) -> dict[str, str]:
    """Every file under `paths`, by absolute path, with the source name it is indexed under."""
    sources: dict[str, str] = {}
    for root in paths:
        if not Path(root).exists():
            report.errors.append(f"{root}: does not exist.")
            continue
        for path, source in iter_files(root):
            sources[os.path.abspath(path)] = source
    return sources


def _dataset(ray, files: list[str], sources: dict[str, str], s: Settings, batch_size: int, n_actors: int):
    """Read, parse, chunk and embed, as a Ray Data pipeline of chunk rows."""
    # Ray counts CPUs logically: actors that each claimed a whole CPU would leave none for the
    # read and parse tasks, and the pipeline would wait forever. Each stage claims half a CPU;
    # each actor still computes on one thread (torch), so N actors keep N cores busy.
    return (
        ray.data.read_binary_files(files, include_paths=True, num_cpus=0.5)
        .flat_map(parse_file, fn_kwargs={"sources": sources, "max_bytes": s.max_file_bytes}, num_cpus=0.5)
        .map_batches(
            ChunkEmbedder,
            fn_constructor_kwargs={
                "model": s.embed_model,
                "chunk_tokens": s.chunk_tokens,
                "chunk_overlap": s.chunk_overlap,
                "batch_size": 64,
            },
            batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(size=n_actors),
            num_cpus=0.5,
            batch_format="numpy",
        )
    )


class _Writer:
    """Collects embedded chunks and writes the new ones to the index, a batch at a time."""

    def __init__(self, index, report: BulkReport):
        self.index, self.report = index, report
        self.pending: list[Chunk] = []
        self.vectors: list = []
        self.docs_seen: set[tuple[str, str]] = set()

    def take(self, batch: dict) -> int:
        """Queue a batch's chunks (errors go to the report); returns how many were queued."""
        n = 0
        for row, vec, err in zip(batch["chunk"], batch["vector"], batch["error"]):
            if err:
                self.report.errors.append(str(err))
                continue
            chunk = Chunk(**json.loads(row))
            self.docs_seen.add((chunk.source, chunk.doc_id))
            self.pending.append(chunk)
            self.vectors.append(vec)
            n += 1
        self.report.chunks += n
        return n

    def flush(self) -> None:
        fresh_ids = {id(c) for c in self.index.new_chunks(self.pending)}
        keep = [i for i, c in enumerate(self.pending) if id(c) in fresh_ids]
        if keep:
            self.index.add(
                [self.pending[i] for i in keep],
                np.asarray([self.vectors[i] for i in keep], dtype=np.float32).reshape(len(keep), -1),
            )
            self.report.chunks_added += len(keep)
        self.pending.clear()
        self.vectors.clear()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m rag_retrieve.bulk_ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("paths", nargs="+", help="files and folders to index")
    ap.add_argument(
        "--backend", choices=("qdrant", "local"), default=None, help="default: RETRIEVE_BACKEND (local unless set)"
    )
    ap.add_argument(
        "--index-dir", default=None, help="default: RETRIEVE_INDEX_DIR (embedded Qdrant lives in its qdrant/ folder)"
    )
    ap.add_argument("--actors", type=int, default=None, help="embedding actors (default: one per CPU)")
    ap.add_argument("--batch-size", type=int, default=64, help="documents per actor batch")
    ap.add_argument(
        "--num-cpus", type=int, default=None, help="CPUs for a local Ray instance (ignored with RAY_ADDRESS)"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    s = Settings.from_env()
    if args.index_dir:
        s = Settings(**{**s.__dict__, "index_dir": Path(args.index_dir)})
    backend = args.backend or s.backend
    report = bulk_ingest(
        args.paths, backend=backend, settings=s, actors=args.actors, batch_size=args.batch_size, num_cpus=args.num_cpus
    )
    print(report.summary())
    return 0 if report.files else 1


if __name__ == "__main__":
    sys.exit(main())

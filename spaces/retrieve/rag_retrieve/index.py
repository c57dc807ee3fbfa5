"""The hybrid index: exact cosine over a numpy matrix plus BM25, persisted atomically.

An index value is never changed in place: `added()` and `without_source()` return a
new index, so readers keep a consistent snapshot while a write is under way.

On disk, each saved state is a complete generation folder, and the `CURRENT` file
names the live one. A save writes and fsyncs a new generation, then swaps `CURRENT`
with an atomic rename, so a process killed at any point leaves a loadable index. The
manifest holds each file's SHA-256; a generation whose files do not match is refused, and
the previous generation, which every save keeps, is loaded instead.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from .bm25 import BM25Scorer, text_key
from .documents import Chunk
from .fusion import FUSIONS, top_indices
from .generations import complete_generations, current_generation, fsync, fsync_dir, sha256, write_error, write_fix

log = logging.getLogger(__name__)

MODES = ("dense", "bm25", "hybrid")
FORMAT_VERSION = 1
DEFAULT_FUSION = "zscore"
FUSION_DEPTH = 100


class IndexMismatchError(RuntimeError):
    """The stored index was built with another embedding model."""


class IndexWriteError(OSError):
    """A save failed (full disk, no permission, ...); the stored index is unchanged."""

    def __str__(self) -> str:
        return str(self.strerror)


class IndexCorruptError(RuntimeError):
    """No generation in the index folder passes its checksums."""


@dataclass(frozen=True)
class Hit:
    """A chunk returned by a search, with the score that ranked it."""

    chunk: Chunk
    score: float
    distance: float | None = None  # cosine distance to the query (1 - cosine; lower is closer); None in bm25 mode


class HybridIndex:
    """Chunks with their unit vectors and a BM25 model, searchable by dense, bm25 or hybrid.

    Usage:
        index = HybridIndex.empty(model="sentence-transformers/all-MiniLM-L6-v2", dimension=384)
        index = index.added(chunks, vectors)
        hits = index.search(query_vector, "query text", k=5, mode="hybrid")

    Args:
        chunks: the indexed chunks, row-aligned with `vectors`.
        vectors: (n, dimension) float32 matrix of L2-normalised embeddings.
        model: the embedding model name, recorded so a mismatched index is refused.
        bm25: the sparse scorer over the chunks' title and text.
        fusion: how hybrid mode combines the two score lists (see fusion.py).
    """

    def __init__(
        self,
        chunks: list[Chunk],
        vectors: np.ndarray,
        *,
        model: str,
        bm25: BM25Scorer | None = None,
        fusion: str = DEFAULT_FUSION,
    ):
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {sorted(FUSIONS)}, but got {fusion!r}")
        self.chunks = chunks
        self.vectors = vectors
        self.model = model
        self.fusion = fusion
        self.bm25 = bm25 if bm25 is not None else BM25Scorer.build([c.embed_text for c in chunks])
        self._keys = {text_key(c) for c in chunks}

    @classmethod
    def empty(cls, *, model: str, dimension: int, fusion: str = DEFAULT_FUSION) -> "HybridIndex":
        return cls([], np.zeros((0, dimension), dtype=np.float32), model=model, fusion=fusion)

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def sources(self) -> set[str]:
        return {c.source for c in self.chunks}

    @property
    def doc_count(self) -> int:
        return len({(c.source, c.doc_id) for c in self.chunks})

    def __len__(self) -> int:
        return len(self.chunks)

    def new_chunks(self, chunks: Iterable[Chunk]) -> list[Chunk]:
        """The chunks whose normalised text is not in the index yet (nor repeated in `chunks`)."""
        seen = set(self._keys)
        fresh = []
        for c in chunks:
            key = text_key(c)
            if key not in seen:
                seen.add(key)
                fresh.append(c)
        return fresh

    def added(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> "HybridIndex":
        """A new index with `chunks` appended; call `new_chunks` first to drop duplicates."""
        if not chunks:
            return self
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(chunks), self.dimension):
            raise ValueError(f"expected vectors of shape {(len(chunks), self.dimension)}, got {vectors.shape}")
        return HybridIndex(
            self.chunks + list(chunks), np.vstack([self.vectors, vectors]), model=self.model, fusion=self.fusion
        )

    def without_source(self, source: str) -> "HybridIndex":
        """A new index without the chunks of `source`."""
        keep = [i for i, c in enumerate(self.chunks) if c.source != source]
        if len(keep) == len(self.chunks):
            return self
        return HybridIndex([self.chunks[i] for i in keep], self.vectors[keep], model=self.model, fusion=self.fusion)

    def _dense(self, query_vector: np.ndarray) -> np.ndarray:
        # torch, not numpy: it shares one thread pool with the query embedding, where
        # OpenBLAS threads left spinning after a numpy matvec slow the next query down; and on
        # the process's compute thread, where the embedding runs (rag_contract.compute).
        import torch
        from rag_contract.compute import compute_thread

        def mv() -> np.ndarray:
            with torch.inference_mode():
                q = torch.from_numpy(np.asarray(query_vector, dtype=np.float32))
                return torch.mv(torch.from_numpy(self.vectors), q).numpy()

        return compute_thread().call(mv)

    def scores(
        self,
        query_vector: np.ndarray | None,
        query: str,
        mode: str,
        keep: np.ndarray | None = None,
        depth: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Indices and scores of the best `depth` candidates for `mode` (default: all), best first.

        Rows where `keep` is False score -inf, so they are never candidates.
        """
        n = len(self.chunks)
        depth = n if depth is None else depth

        def masked(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x, dtype=np.float32)
            return x if keep is None else np.where(keep, x, -np.inf)

        dense = masked(self._dense(query_vector)) if mode != "bm25" else None
        sparse = masked(self.bm25.scores(query, n)) if mode != "dense" else None
        if mode == "dense":
            idx = top_indices(dense, depth)
            return idx, dense[idx]
        if mode == "bm25":
            idx = top_indices(sparse, depth)
            idx = idx[sparse[idx] > 0]  # no shared term, no match
            return idx, sparse[idx]
        idx, fused = FUSIONS[self.fusion](dense, sparse, depth=max(FUSION_DEPTH, depth))
        return idx[:depth], fused[:depth]

    def search(
        self,
        query_vector: np.ndarray | None,
        query: str,
        *,
        k: int = 5,
        mode: str = "hybrid",
        where: Callable[[Chunk], bool] | None = None,
    ) -> list[Hit]:
        """The k best chunks for the query, best first.

        Args:
            query_vector: the query's unit embedding (unused in bm25 mode).
            query: the query text, for BM25.
            k: how many hits to return.
            mode: dense, bm25 or hybrid.
            where: keep only chunks for which this predicate holds; filtering happens
                before ranking, so a filter never empties the top k.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, but got {mode!r}")
        if not self.chunks:
            return []
        keep = None
        if where is not None:
            keep = np.fromiter((where(c) for c in self.chunks), dtype=bool, count=len(self.chunks))
            if not keep.any():
                return []
        idx, vals = self.scores(query_vector, query, mode, keep, depth=k)
        if query_vector is None or not len(idx):
            return [Hit(self.chunks[i], float(v)) for i, v in zip(idx, vals)]
        cosine = self.vectors[idx] @ np.asarray(query_vector, dtype=np.float32)
        return [Hit(self.chunks[i], float(v), round(1.0 - float(c), 6)) for i, v, c in zip(idx, vals, cosine)]

    # -- persistence -----------------------------------------------------------------

    def save(self, folder: str | os.PathLike) -> Path:
        """Write a new generation under `folder` and make it current, atomically.

        Raises IndexWriteError, with the reason and the fix, when the disk is full or the folder
        is not writable; the generation that was current stays current, untouched.
        """
        folder = Path(folder)
        name = f"gen-{time.time_ns():020d}"
        tmp = folder / f".tmp-{name}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp.mkdir()
            self._write(tmp)
            os.rename(tmp, folder / name)
            fsync_dir(folder)
            current_tmp = folder / ".CURRENT.tmp"
            current_tmp.write_text(name)
            fsync(current_tmp)
            os.replace(current_tmp, folder / "CURRENT")
            fsync_dir(folder)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if (folder / name).exists() and current_generation(folder) != name:
                shutil.rmtree(folder / name, ignore_errors=True)
            code, reason = write_error(exc, folder)
            raise IndexWriteError(
                code,
                f"Could not save the index in {folder}: {reason}. Nothing was changed: the index still holds "
                f"what it held before this request. {write_fix(code)}",
            ) from exc
        # Keep the previous generation too: if the new one is ever damaged on disk, load() falls back to it.
        keep = {name, *complete_generations(folder, before=name)[-1:]}
        for old in folder.iterdir():
            if old.name not in keep and (old.name.startswith("gen-") or old.name.startswith(".tmp-gen-")):
                shutil.rmtree(old, ignore_errors=True)
        return folder / name

    def _write(self, tmp: Path) -> None:
        with open(tmp / "vectors.npy", "wb") as f:
            np.save(f, self.vectors, allow_pickle=False)
        with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as f:
            for c in self.chunks:
                f.write(json.dumps(dataclasses.asdict(c), ensure_ascii=False) + "\n")
        (tmp / "bm25").mkdir()
        self.bm25.save(tmp / "bm25")
        files = {p.relative_to(tmp).as_posix(): sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        manifest = {
            "format_version": FORMAT_VERSION,
            "model": self.model,
            "dimension": self.dimension,
            "chunks": len(self.chunks),
            "documents": self.doc_count,
            "fusion": self.fusion,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "sha256": files,
        }
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, indent=2)
        )  # written last: it marks the generation complete
        for path in tmp.rglob("*"):
            if path.is_file():
                fsync(path)
        fsync_dir(tmp / "bm25")
        fsync_dir(tmp)

    @classmethod
    def load(cls, folder: str | os.PathLike, *, model: str | None = None) -> "HybridIndex | None":
        """Load the current generation, or None when `folder` holds no index.

        A generation whose files fail their checksums (or cannot be parsed) is skipped with a
        warning, and the newest older one that passes is loaded. Raises IndexCorruptError when
        none does, and IndexMismatchError when `model` is given and differs from the one the
        index was built with.
        """
        folder = Path(folder)
        candidates = complete_generations(folder)
        current = current_generation(folder)
        if current in candidates:  # CURRENT first, then the others, newest first
            candidates.remove(current)
            candidates.append(current)
        if not candidates:
            return None
        problems = []
        for name in reversed(candidates):
            gen = folder / name
            try:
                manifest = json.loads((gen / "manifest.json").read_text())
                if model is not None and manifest["model"] != model:
                    raise IndexMismatchError(
                        f"The index in {folder} was built with '{manifest['model']}' ({manifest['dimension']} dimensions), "
                        f"but the embedding model is now '{model}'. Rebuild it: delete {folder} (or point RETRIEVE_INDEX_DIR "
                        f"at an empty folder) and restart, or set RETRIEVE_EMBED_MODEL={manifest['model']}."
                    )
                index = cls._read(gen, manifest)
            except IndexMismatchError:
                raise
            except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
                problems.append(f"{name}: {exc}")
                log.error("Index generation %s is damaged (%s); trying the previous one.", gen, exc)
                continue
            if problems:
                log.warning(
                    "Loaded the older index generation %s because the newer one is damaged: changes made after it are lost; add those files again.",
                    name,
                )
            return index
        raise IndexCorruptError(
            f"Every index generation in {folder} is damaged ({'; '.join(problems)}). Delete {folder} (or point RETRIEVE_INDEX_DIR "
            "at an empty folder) and restart to rebuild the index from your files."
        )

    @classmethod
    def _read(cls, gen: Path, manifest: dict) -> "HybridIndex":
        for rel, digest in manifest.get("sha256", {}).items():
            if sha256(gen / rel) != digest:
                raise ValueError(f"{rel} does not match its checksum (the file was changed or damaged)")
        with open(gen / "vectors.npy", "rb") as f:
            vectors = np.load(f, allow_pickle=False)
        with open(gen / "chunks.jsonl", encoding="utf-8") as f:
            chunks = [Chunk(**json.loads(line)) for line in f]
        if len(chunks) != len(vectors) or len(chunks) != manifest["chunks"]:
            raise ValueError(
                f"{len(chunks)} chunks and {len(vectors)} vectors, but the manifest says {manifest['chunks']}"
            )
        return cls(
            chunks,
            vectors,
            model=manifest["model"],
            bm25=BM25Scorer.load(gen / "bm25"),
            fusion=manifest.get("fusion", DEFAULT_FUSION),
        )

"""Models loaded once per process, whichever stage asks first.

Each Space alone loads its own; in the one-Space suite (spaces/suite) the retrieve and generate
stages ask for the same MiniLM, and rerank and generate for the same answer cross-encoder, and
get one copy each. A failed load is not remembered, so the next caller tries again.
"""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=None)
def sentence_transformer(name: str, device: str = "cpu", local_files_only: bool = False):
    """`SentenceTransformer(name, device=device)`, one per (name, device, local_files_only)."""
    from sentence_transformers import SentenceTransformer

    kwargs = {"local_files_only": True} if local_files_only else {}
    return SentenceTransformer(name, device=device, **kwargs)

"""Every setting of the Rerank Space, read from the environment in one place.

The README's table mirrors `ENV`. Gradio itself reads GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# name: (default, description)
ENV = {
    "RERANK_MODEL": ("cross-encoder/ms-marco-MiniLM-L6-v2", "cross-encoder, Hub id or local folder"),
    "RERANK_MAX_LENGTH": ("512", "tokens per (query, passage) pair; longer pairs are truncated"),
    "RERANK_BATCH_SIZE": ("32", "pairs per forward pass"),
    "RERANK_QUANTIZE": ("none", "'int8' runs the cross-encoder's Linear layers in dynamic int8"),
    "RERANK_FALLBACK_MODEL": (
        "",
        "folder of the cross-encoder that scores when RERANK_MODEL cannot load (empty: the project's answer "
        "cross-encoder, models/answer-reader, shipped with the Space); none keeps the input order instead",
    ),
}


def _get(name: str) -> str:
    return os.environ.get(name, ENV[name][0]).strip()


def _int(name: str) -> int:
    raw = _get(name)
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, but got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    model: str
    max_length: int
    batch_size: int
    quantize: str
    fallback_model: str = ""

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            model=_get("RERANK_MODEL"),
            max_length=_int("RERANK_MAX_LENGTH"),
            batch_size=_int("RERANK_BATCH_SIZE"),
            quantize=_get("RERANK_QUANTIZE"),
            fallback_model=_get("RERANK_FALLBACK_MODEL"),
        )

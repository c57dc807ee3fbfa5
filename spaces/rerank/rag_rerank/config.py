"""Every setting of the Rerank Space, read from the environment in one place.

The README's table mirrors `ENV`. Gradio itself reads GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag_contract.settings import EnvReader

# name: (default, description)
ENV = {
    "RERANK_MODEL": ("cross-encoder/ms-marco-MiniLM-L6-v2", "cross-encoder, Hub id or local folder"),
    "RERANK_MAX_LENGTH": ("512", "tokens per (query, passage) pair; longer pairs are truncated"),
    "RERANK_BATCH_SIZE": ("32", "pairs per forward pass"),
    "RERANK_QUANTIZE": (
        "none",
        "'int8' runs the cross-encoder's Linear layers (the answer cross-encoder fallback's too) in dynamic int8",
    ),
    "RERANK_FALLBACK_MODEL": (
        "",
        "folder of the cross-encoder that scores when RERANK_MODEL cannot load (empty: the project's answer "
        "cross-encoder, models/answer-reader, shipped with the Space); none keeps the input order instead",
    ),
}

_env = EnvReader(ENV)


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
            model=_env.str("RERANK_MODEL"),
            max_length=_env.int("RERANK_MAX_LENGTH"),
            batch_size=_env.int("RERANK_BATCH_SIZE"),
            quantize=_env.str("RERANK_QUANTIZE"),
            fallback_model=_env.str("RERANK_FALLBACK_MODEL"),
        )

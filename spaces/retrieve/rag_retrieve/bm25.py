"""BM25 over chunks (bm25s with a Snowball stemmer), and the text key that spots duplicates."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from .documents import Chunk


def normalize_text(text: str) -> str:
    return " ".join(text.split()).casefold()


def text_key(chunk: Chunk) -> str:
    """Identity for deduplication: identical text under the same title is indexed once."""
    return hashlib.blake2b(normalize_text(chunk.embed_text).encode(), digest_size=16).hexdigest()


class BM25Scorer:
    """BM25 (Lucene variant, k1=1.2, b=0.75) over stemmed English tokens, through bm25s."""

    def __init__(self, model=None):
        self.model = model

    @staticmethod
    def _tokenize(texts: Sequence[str]) -> list[list[str]]:
        import bm25s
        import Stemmer

        return bm25s.tokenize(
            list(texts), stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False, show_progress=False
        )

    @classmethod
    def build(cls, texts: Sequence[str]) -> "BM25Scorer":
        import bm25s

        if not texts:
            return cls(None)
        model = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
        model.index(cls._tokenize(texts), show_progress=False)
        return cls(model)

    def scores(self, query: str, n: int) -> np.ndarray:
        if self.model is None:
            return np.zeros(n, dtype=np.float32)
        tokens = self._tokenize([query])[0]
        ids = self.model.get_tokens_ids(tokens)
        if not ids:
            return np.zeros(n, dtype=np.float32)
        return self.model.get_scores(ids)

    def save(self, folder: Path) -> None:
        if self.model is not None:
            self.model.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> "BM25Scorer":
        import bm25s

        if not (folder / "params.index.json").exists():
            return cls(None)
        return cls(bm25s.BM25.load(str(folder), show_progress=False, verbosity=0))

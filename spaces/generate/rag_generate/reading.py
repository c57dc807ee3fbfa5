"""/answer's path, one step each: a checked `Question`; a `Reading` per backend (the evidence
sentences within that backend's budget, the prompt, and the gate that judges the answer); the
gate's `Verdict`. `GenerateAPI.answer` composes them through the fallback chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from .backends import Backend, Sampling
from .evidence import EvidenceTrim, ReaderScore, Similarity, best_evidence, select_evidence
from .gate import AnswerGate
from .inputs import PromptTooLong
from .prompts import Source, build_messages


@dataclass(frozen=True)
class Question:
    """One checked /answer request."""

    query: str
    sources: list[Source]
    sampling: Sampling
    history: object = None


@dataclass
class Reading:
    """What one backend is given for a question, and the gate that judges what it writes.
    Iterating it streams the backend's answer through the gate."""

    backend: Backend
    kept: list[tuple[Source, str]]
    trim: EvidenceTrim
    gate: AnswerGate
    messages: list[dict] | None = None  # None: no model reads the sources (the extractive backend)
    sampling: Sampling | None = None
    history_kept: int = 0
    prompt_tokens: int = 0
    sentence: str = field(default="")  # what the extractive backend is handed
    settle: bool = False  # ask the model only when what it writes could change the verdict

    def __iter__(self) -> Iterator[str]:
        if self.messages is None:
            return self.gate.watch(self.backend.answer(self.sentence))
        if self.settle and self.gate.settle():
            return iter(())  # the verdict holds whatever the model would write
        return self.gate.watch(self.backend.stream(self.messages, self.sampling))

    @property
    def model_asked(self) -> bool:
        """False when the backend's model was not asked: the verdict was settled before it wrote."""
        return self.gate.closed != "settled"


class Reader:
    """Prepares a `Reading` for each backend the fallback chain tries.

    Args:
        similarity: the evidence embedder's similarity, or None (BM25 alone chooses).
        reader: the answer reader's scores, or None; when given, it chooses and grades the sentence.
        max_sentences: the most evidence sentences a prompt holds (Settings.evidence_sentences).
        source_tokens: the most tokens the sources take (GENERATE_SOURCE_TOKENS).
        settle: ask the model only when what it writes could change the verdict
            (GENERATE_ASK_MODEL=when_needed; "always" asks it every time).
    """

    def __init__(
        self,
        *,
        similarity: Similarity | None,
        max_sentences: int,
        source_tokens: int,
        reader: ReaderScore | None = None,
        settle: bool = False,
    ):
        self.similarity, self.max_sentences, self.source_tokens = similarity, max_sentences, source_tokens
        self.reader, self.settle = reader, settle

    def read(self, backend: Backend, question: Question) -> Reading:
        def select(sources, budget, count):
            return select_evidence(
                question.query,
                sources,
                budget,
                count,
                max_sentences=self.max_sentences,
                similarity=self.similarity,
                reader=self.reader,
            )

        if not backend.reads_prompts:
            kept, trim = select(question.sources, self.source_tokens, backend.count)
            sentence = trim.best
            if not sentence:
                found = best_evidence(question.query, kept, similarity=self.similarity, reader=self.reader)
                sentence = found.text if found else ""
            gate = self._gate(question, kept, trim, model_read=False)
            return Reading(backend, kept, trim, gate, sentence=sentence)
        try:
            messages, kept, trim, history_kept = build_messages(
                question.query,
                question.sources,
                history=question.history,
                prompt_budget=backend.n_ctx - question.sampling.max_tokens,
                count_messages=backend.count_messages,
                count=backend.count,
                max_source_tokens=self.source_tokens,
                select=select,
            )
        except ValueError as exc:
            raise PromptTooLong(str(exc)) from None
        return Reading(
            backend,
            kept,
            trim,
            self._gate(question, kept, trim, model_read=True),
            messages=messages,
            sampling=question.sampling,
            history_kept=history_kept,
            prompt_tokens=backend.count_messages(messages),
            settle=self.settle,
        )

    def _gate(self, question: Question, kept, trim: EvidenceTrim, *, model_read: bool) -> AnswerGate:
        return AnswerGate(
            question.query,
            kept,
            similarity=self.similarity,
            best=trim.best,
            runner_up=trim.runner_up,
            model_read=model_read,
            reading=trim.reading,
        )

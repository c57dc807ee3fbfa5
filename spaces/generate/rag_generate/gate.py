"""The gate between the model's stream and the user: it reads the model's first sentence, stops
the model there (or when it loops), and has `grounding.judge` decide what the user reads.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from .confidence import Calibration
from .evidence import Similarity, numbers, strip_citations, terms, words
from .grounding import Verdict, judge
from .prompts import Source, split_sentences

# -- loops ---------------------------------------------------------------------------------------


def repeats(text: str, *, n: int = 6, times: int = 2) -> bool:
    """True once some run of `n` words occurs `times` or more: the model has started to loop.

    Grounded answers are short, so a six-word phrase said twice is already a loop, not style.
    """
    w = [x.lower() for x in words(strip_citations(text))]
    seen: Counter = Counter(tuple(w[i : i + n]) for i in range(len(w) - n + 1))
    return any(c >= times for c in seen.values())


# -- the gate between the model and the user -------------------------------------------------------


class AnswerGate:
    """Stands between the model's stream and the user: nothing unchecked is shown.

    The gate reads the model's output until its first sentence is complete (or it starts to
    loop, or runs past `max_words`), then closes, so the model stops generating, and `judge`s
    it. `text` stays empty until the verdict, then holds the whole answer. When the verdict is
    the same whatever the model writes, `settle` gives it before the model is asked.

    Usage:
        gate = AnswerGate(query, kept)
        if not gate.settle():                    # optional: the model is asked only when it matters
            for piece in gate.watch(model_stream):   # stops pulling from the model when the gate closes
                ...
        verdict = gate.finish()                  # verdict.text is what the user reads

    Args:
        query: the question.
        kept: the (source, excerpt) pairs the model was given, numbered from 1.
        max_words: the model's answer is judged once it is this long, sentence or not.
        similarity: see `score_sentences`; the one that chose the evidence.
        best, runner_up: the evidence sentences as chosen with the sources (`EvidenceTrim`); see `judge`.
        model_read, calibration, reading: see `judge`.
    """

    def __init__(
        self,
        query: str,
        kept: Sequence[tuple[Source, str]],
        *,
        max_words: int = 60,
        similarity: Similarity | None = None,
        best: str = "",
        runner_up: str = "",
        model_read: bool = True,
        calibration: Calibration | None = None,
        reading: dict | None = None,
    ):
        self.query, self.kept, self.max_words, self.reading = query, list(kept), max_words, reading
        self.model_read, self.calibration = model_read, calibration
        self.similarity, self.best, self.runner_up = similarity, best, runner_up
        self.raw = ""  # what the model wrote
        self.text = ""  # what the user sees
        self.closed = ""  # why generation stopped early: "sentence", "repetition", "length", "settled", or ""
        self.verdict: Verdict | None = None

    def feed(self, piece: str) -> bool:
        """Take the next piece of the model's output; False once generation should stop."""
        if not self.closed:
            self.raw += piece
            body = [s for s in split_sentences(self.raw) if terms(s) or numbers(s)]
            if len(body) > 1:
                self.closed = "sentence"
            elif repeats(self.raw):
                self.closed = "repetition"
            elif len(self.raw.split()) >= self.max_words:
                self.closed = "length"
        return not self.closed

    def watch(self, stream):
        """Pass `stream` through, and stop pulling from it once the gate closes."""
        try:
            for piece in stream:
                yield piece
                if not self.feed(piece):
                    return
        finally:
            if hasattr(stream, "close"):
                stream.close()  # frees llama-cpp at once, not when the generator is collected

    def settle(self) -> bool:
        """Judge before the model writes, when nothing it could write would change the verdict
        (`Calibration.settled`). True when settled: the model need not be asked, and `finish`
        gives that verdict. Never for the extractive backend, where no model reads."""
        if self.verdict is None and self.model_read:
            self.verdict = self._judge("", settle=True)
            if self.verdict is not None:
                self.text, self.closed = self.verdict.text, "settled"
        return self.closed == "settled"

    def finish(self) -> Verdict:
        """The verdict on what the model wrote; sets `text`."""
        if self.verdict is None:
            first = next((s for s in split_sentences(self.raw) if terms(s) or numbers(s)), self.raw)
            self.verdict = self._judge(first)
            self.text = self.verdict.text
        return self.verdict

    def _judge(self, answer: str, *, settle: bool = False) -> Verdict | None:
        return judge(
            self.query,
            answer,
            self.kept,
            similarity=self.similarity,
            best=self.best,
            runner_up=self.runner_up,
            model_read=self.model_read,
            calibration=self.calibration,
            reading=self.reading,
            settle=settle,
        )

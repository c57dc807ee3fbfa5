"""Pure functions that keep an answer grounded: which source sentences the model reads,
which source each answer sentence comes from, whether the sources back it, and when the
model has started to loop.

Everything here takes text and returns data, so it is tested without a model. Matching is
lexical (content words with a light stemmer, and numbers), because the generate Space has no
embedding model and the sources are short: a claim whose words are not in its source is not
backed by it, whatever a model would say.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .prompts import Source, Trim, parse_citations, source_block, split_sentences

Count = Callable[[str], int]

_TOKEN = re.compile(r"[^\W_]+(?:[.,'’][^\W_]+)*", re.UNICODE)
_NUMBER = re.compile(r"\d")
_CITATION_MARK = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
_CITATION_AFTER_END = re.compile(r"([.!?])\s*((?:\[\d+(?:\s*,\s*\d+)*\])+)")
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below between both but by
    can could did do does doing down during each few for from further had has have having he her here hers herself him himself his how
    i if in into is it its itself just let me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these they this those through to too under
    until up upon very was we were what when where which while who whom whose why will with would you your yours yourself yourselves
    s t many much according source sources text passage answer question""".split()
)
# Answers that say the sources do not cover the question.
_ABSTAIN = re.compile(r"\b(i (do not|don't|cannot|can't) (know|find|answer|tell)|not (mentioned|stated|provided|given|specified)|no (information|mention)|(does|do) not (say|mention|contain|specify|provide))\b", re.I)


def stem(word: str) -> str:
    """A light, dependency-free English stemmer: enough to match 'founded' with 'founding'."""
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) <= 3 or _NUMBER.search(w):
        return w
    for suffix, keep in (("ational", "ate"), ("ization", "ize"), ("fulness", "ful"), ("iveness", "ive"), ("ingly", ""), ("edly", ""),
                         ("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("ly", ""), ("s", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)] + keep
            break
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":  # stopped -> stopp -> stop
        w = w[:-1]
    if len(w) > 3 and w.endswith("e"):  # 'cause' and 'caused' meet at 'caus'
        w = w[:-1]
    return w


def words(text: str) -> list[str]:
    return _TOKEN.findall(text)


def terms(text: str) -> list[str]:
    """Stemmed content words, in order, repeats kept."""
    return [stem(w) for w in words(text) if w.lower() not in STOPWORDS and (len(w) > 1 or w.isdigit())]


def numbers(text: str) -> set[str]:
    """Tokens that carry a digit, normalised ('1,200' and '1200' match)."""
    return {w.replace(",", "").lower() for w in words(text) if _NUMBER.search(w)}


def strip_citations(text: str) -> str:
    return _CITATION_MARK.sub("", text)


# -- choosing evidence ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sentence:
    """One sentence of a source, scored against the question."""

    source: int  # position of its source in the input (0-based, rank order)
    index: int  # position in its source
    text: str
    score: float = 0.0


def score_sentences(query: str, sources: Sequence[Source]) -> list[Sentence]:
    """Every sentence of every source, scored with BM25 against the question.

    Statistics come from these sentences alone, so a word that is in every source counts for
    little. A sentence also gets a quarter of its neighbours' scores, because an answer often
    sits one sentence after the name it is about ("X was founded in 1887. It ..."). Ties go to
    the better-ranked source, then the earlier sentence.
    """
    q = Counter(terms(query))
    split = [[s for s in split_sentences(src.text) if s.strip()] for src in sources]
    flat = [(i, j, s, terms(s)) for i, sents in enumerate(split) for j, s in enumerate(sents)]
    if not flat:
        return []
    n = len(flat)
    df = Counter(t for *_, ts in flat for t in set(ts))
    avg = sum(len(ts) for *_, ts in flat) / n or 1.0
    k1, b = 1.2, 0.75

    def bm25(ts: list[str]) -> float:
        tf = Counter(ts)
        norm = k1 * (1 - b + b * len(ts) / avg)
        return sum(math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) * tf[t] * (k1 + 1) / (tf[t] + norm) for t in q if tf[t])

    own = [bm25(ts) for *_, ts in flat]
    out = []
    for k, (i, j, s, _) in enumerate(flat):
        context = sum(own[m] for m in (k - 1, k + 1) if 0 <= m < n and flat[m][0] == i)
        out.append(Sentence(source=i, index=j, text=s, score=own[k] + 0.25 * context))
    return out


def select_evidence(query: str, sources: Sequence[Source], budget: int, count: Count, *, max_sentences: int = 8) -> tuple[list[tuple[Source, str]], Trim]:
    """The sentences most likely to hold the answer, within `budget` tokens, grouped by source.

    Sentences are taken best first until the budget or `max_sentences` is reached; each source
    then shows its chosen sentences in their original order. A source with no chosen sentence is
    dropped, and the numbering follows the kept sources' rank, as with `fit_sources`.
    Returns the same shape as `fit_sources`: (source, excerpt) pairs and a `Trim` report.
    """
    trim = Trim(budget_tokens=max(budget, 0))
    ranked = sorted(score_sentences(query, sources), key=lambda s: (-s.score, s.source, s.index))
    chosen: dict[int, list[Sentence]] = {}
    for sent in ranked:
        if sum(len(v) for v in chosen.values()) >= max_sentences:
            break
        if sent.score <= 0 and chosen:
            break  # nothing else shares a word with the question
        trial = {**chosen, sent.source: sorted(chosen.get(sent.source, []) + [sent], key=lambda s: s.index)}
        cost = _cost(sources, trial, count)
        if cost <= trim.budget_tokens:
            chosen, trim.used_tokens = trial, cost
    kept = []
    for pos in range(len(sources)):
        if pos in chosen:
            excerpt = _excerpt(chosen[pos])
            kept.append((sources[pos], excerpt))
            trim.kept.append(pos)
            if len(chosen[pos]) < len(split_sentences(sources[pos].text)):
                trim.cut.append(pos)
        else:
            trim.dropped.append(pos)
    return kept, trim


def _excerpt(sents: list[Sentence]) -> str:
    out, last = "", None
    for s in sents:
        gap = last is not None and s.index != last + 1
        out += ("… " if gap else "") + " ".join(s.text.split()) + " "
        last = s.index
    return out.strip()


def _cost(sources: Sequence[Source], chosen: dict[int, list[Sentence]], count: Count) -> int:
    return sum(count(source_block(n, sources[pos], _excerpt(chosen[pos]))) for n, pos in enumerate(sorted(chosen), start=1))


# -- attributing and checking the answer ---------------------------------------------------------


@dataclass
class Claim:
    """One sentence of the answer, the source sentence that best supports it, and how well."""

    text: str
    n: int | None  # the cited source, 1-based in the prompt's numbering; None if nothing matches
    evidence: str = ""
    support: float = 0.0  # share of the claim's content words found in the evidence
    missing: list[str] = field(default_factory=list)  # content words and numbers not found


@dataclass
class Grounding:
    """The verdict on an answer: its claims, the sources cited, and whether they back it."""

    claims: list[Claim]
    supported: bool
    reason: str = ""  # why not, in words a user can read

    @property
    def cited(self) -> list[int]:
        out: list[int] = []
        for c in self.claims:
            if c.n is not None and c.n not in out:
                out.append(c.n)
        return out


def attribute(answer: str, kept: Sequence[tuple[Source, str]]) -> list[Claim]:
    """Match each answer sentence to the source sentence that covers most of its words.

    A claim's support is the share of its content words (and all of its numbers) that the
    best sentence contains; words of the neighbouring sentence count too, so "It opened in
    1887" matches across a pronoun. Ties go to the better-ranked source.
    """
    units = []  # (n, sentence, term set)
    for n, (_, text) in enumerate(kept, start=1):
        sents = [s for s in split_sentences(text) if s.strip()]
        for j, s in enumerate(sents):
            near = " ".join(sents[max(j - 1, 0) : j + 2])
            units.append((n, " ".join(s.split()), set(terms(near)) | numbers(near)))
    claims = []
    answer = _CITATION_AFTER_END.sub(r" \2\1", answer)  # "moon. [2]" -> "moon [2]."
    for sentence in split_sentences(answer):
        text = " ".join(strip_citations(sentence).split())
        need = set(terms(text)) | numbers(text)
        if not text or not need:
            continue
        own = set(parse_citations(sentence, len(kept)))  # on a tie, the model's own citation wins
        best = None
        for n, s, have in units:
            hit = len(need & have)
            if best is None or (hit, n in own) > (best[0], best[1] in own):
                best = (hit, n, s, have)
        if best is None or best[0] == 0:
            claims.append(Claim(text, None, "", 0.0, sorted(need)))
            continue
        hit, n, s, have = best
        claims.append(Claim(text, n, s, hit / len(need), sorted(need - have)))
    return claims


def check_support(query: str, answer: str, kept: Sequence[tuple[Source, str]], *, min_support: float = 0.75) -> Grounding:
    """Whether the sources back `answer`: every claim's numbers are in its source and at least
    `min_support` of its content words are. An answer that abstains ("I don't know") is not
    supported: it says nothing the sources back."""
    body = strip_citations(answer).strip()
    if not body:
        return Grounding([], False, "the model gave no answer")
    if _ABSTAIN.search(body):
        return Grounding([], False, "the model found no answer in the sources")
    claims = attribute(body, kept)
    if not claims:
        return Grounding([], False, "the answer has no content words to check")
    for c in claims:
        lacking_numbers = [m for m in c.missing if _NUMBER.search(m)]
        if c.n is None or lacking_numbers or c.support < min_support:
            what = ", ".join(lacking_numbers or c.missing[:4]) or "its words"
            return Grounding(claims, False, f"the sources do not say {what!s}")
    return Grounding(claims, True)


def cite(claims: Sequence[Claim]) -> str:
    """The answer text rebuilt from its claims, each ending with its source as [n]."""
    out = []
    for c in claims:
        text = c.text.rstrip()
        end = text[-1] if text and text[-1] in ".!?" else ""
        body = text[:-1].rstrip() if end else text
        out.append(f"{body} [{c.n}]{end or '.'}" if c.n else text)
    return " ".join(out)


def best_evidence(query: str, kept: Sequence[tuple[Source, str]], *, max_words: int = 40) -> tuple[int, str] | None:
    """The source number and the sentence (cut to `max_words`) that best matches the question."""
    if not kept:
        return None
    ranked = sorted(score_sentences(query, [Source(text=t) for _, t in kept]), key=lambda s: (-s.score, s.source, s.index))
    if not ranked:
        return None
    top = ranked[0]
    w = " ".join(top.text.split()).split(" ")
    text = " ".join(w[:max_words]) + (" …" if len(w) > max_words else "")
    return top.source + 1, text


def unsupported_answer(query: str, kept: Sequence[tuple[Source, str]]) -> tuple[str, list[int]]:
    """What the user reads when the model's answer is not backed: a plain warning and the best
    evidence, quoted and cited."""
    best = best_evidence(query, kept)
    if best is None:
        return "I could not find the answer in the sources.", []
    n, text = best
    return f"I could not find a clear answer in the sources. The most relevant passage [{n}] says: \u201c{text}\u201d", [n]


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
    """Releases a streamed answer one checked sentence at a time.

    Each sentence the model finishes is attributed to a source and checked. A supported
    sentence is shown with its citation; the first sentence that is unsupported, repeats an
    earlier one, or starts a loop stops the generation. If no sentence was supported, the user
    gets `unsupported_answer`: a plain warning and the best evidence, quoted and cited. So the
    text only grows, and nothing unchecked is ever shown.

    Usage:
        gate = AnswerGate(query, kept)
        for piece in gate.watch(model_stream):   # stops pulling from the model when the gate closes
            show(gate.text)
        verdict = gate.finish()

    Args:
        query: the question.
        kept: the (source, excerpt) pairs the model was given, numbered from 1.
        min_support: share of a sentence's content words its source must contain.
        max_sentences: the most sentences shown; the answer should be short.
    """

    def __init__(self, query: str, kept: Sequence[tuple[Source, str]], *, min_support: float = 0.75, max_sentences: int = 3):
        self.query, self.kept, self.min_support, self.max_sentences = query, list(kept), min_support, max_sentences
        self.raw = ""  # what the model wrote
        self.claims: list[Claim] = []  # what passed
        self.text = ""  # what the user sees
        self.closed = ""  # why generation was stopped, or ""
        self.reason = ""  # why the first sentence failed, or ""
        self._done = 0  # sentences of `raw` already judged

    def feed(self, piece: str) -> bool:
        """Take the next piece of the model's output; False once generation should stop."""
        if self.closed:
            return False
        self.raw += piece
        sentences = split_sentences(self.raw)
        for sentence in sentences[self._done : -1]:  # the last one may still be growing
            self._judge(sentence)
            self._done += 1
            if self.closed:
                return False
        if repeats(self.raw):
            self.closed = "repetition"
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

    def _judge(self, sentence: str) -> None:
        body = " ".join(strip_citations(sentence).split()).casefold()
        if not terms(body) and not numbers(body):
            return  # a bare "[1]" or a stray mark: nothing to show or check
        if any(" ".join(c.text.split()).casefold() == body for c in self.claims):
            self.closed = "repetition"
            return
        verdict = check_support(self.query, sentence, self.kept, min_support=self.min_support)
        if not verdict.supported:
            self.closed = "unsupported"
            self.reason = self.reason or verdict.reason
            return
        self.claims.extend(verdict.claims)
        self.text = cite(self.claims)
        if len(self.claims) >= self.max_sentences:
            self.closed = "length"

    def finish(self) -> Grounding:
        """Judge what is left once the stream ends, and give the verdict on the whole answer."""
        if not self.closed:
            rest = split_sentences(self.raw)[self._done :]
            for sentence in rest:
                self._judge(sentence)
                if self.closed:
                    break
        if self.claims:
            return Grounding(self.claims, True)
        self.text, _ = unsupported_answer(self.query, self.kept)
        return Grounding([], False, self.reason or "the model gave no answer")

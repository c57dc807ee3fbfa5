"""Pure functions that keep an answer grounded: which source sentences the model reads,
which source each answer sentence comes from, whether the sources back it, and when the
model has started to loop.

Everything here takes text and returns data, so it is tested without a model. Checking is
lexical (content words with a light stemmer, and numbers): a claim whose words are not in its
source is not backed by it, whatever a model would say. Choosing the sentence that answers the
question may also use a `Similarity` (an embedding model's cosine, passed in), which catches
paraphrases that share no word with the question.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .confidence import ANSWER, LIKELY, NOT_FOUND, Calibration, Evidence, default_calibration, plain_reason, signals
from .prompts import Source, Trim, parse_citations, source_text, split_sentences

Count = Callable[[str], int]
# (question, sentences) -> one similarity per sentence, higher is closer.
Similarity = Callable[[str, Sequence[str]], Sequence[float]]

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
_ABSTAIN = re.compile(
    r"\b(i (do not|don't|cannot|can't) (know|find|answer|tell)|not "
    r"(mentioned|stated|provided|given|specified)|no (information|mention)|(does|do) not "
    r"(say|mention|contain|specify|provide))\b",
    re.I,
)


def stem(word: str) -> str:
    """A light, dependency-free English stemmer: enough to match 'founded' with 'founding'."""
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) <= 3 or _NUMBER.search(w):
        return w
    for suffix, keep in (
        ("ational", "ate"),
        ("ization", "ize"),
        ("fulness", "ful"),
        ("iveness", "ive"),
        ("ingly", ""),
        ("edly", ""),
        ("ies", "y"),
        ("ied", "y"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("ly", ""),
        ("s", ""),
    ):
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


def score_sentences(
    query: str,
    sources: Sequence[Source],
    *,
    similarity: Similarity | None = None,
    candidates: int = 6,
) -> list[Sentence]:
    """Every sentence of every source, scored with BM25 against the question.

    Statistics come from these sentences alone, so a word that is in every source counts for
    little. A sentence also gets a quarter of its neighbours' scores, because an answer often
    sits one sentence after the name it is about ("X was founded in 1887. It ..."). Ties go to
    the better-ranked source, then the earlier sentence.

    With a `similarity`, the best `candidates` sentences are put in a new order by the sum of
    their z-scored BM25 and z-scored similarity (each read with the question or heading before
    it), and take the BM25 scores in that order: the set of scores is unchanged, so budgets and
    thresholds downstream mean the same. Only a few are embedded, to keep the cost (~15 ms a
    sentence on 2 cores) off the first token.
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
        return sum(
            math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) * tf[t] * (k1 + 1) / (tf[t] + norm) for t in q if tf[t]
        )

    own = [bm25(ts) for *_, ts in flat]
    cue = [is_cue(s) for _, _, s, _ in flat]
    out = []
    for k, (i, j, s, _) in enumerate(flat):
        context = sum(own[m] for m in (k - 1, k + 1) if 0 <= m < n and flat[m][0] == i)
        # A question or a heading is not an answer, but it says what the next sentence answers
        # (FAQs, "## Installation"): its match counts for the sentence after it.
        lead = own[k - 1] if k and cue[k - 1] and flat[k - 1][0] == i else 0.0
        score = 0.25 * context + (0.0 if cue[k] else own[k] + lead)
        out.append(Sentence(source=i, index=j, text=s, score=score))
    if similarity is None:
        return out
    leads = [flat[k - 1][2] if k and cue[k - 1] and flat[k - 1][0] == flat[k][0] else "" for k in range(n)]
    top = sorted((k for k in range(n) if not cue[k]), key=lambda k: (-out[k].score, k))[:candidates]
    return _reorder(out, _fuse(query, out, similarity, top, leads))


def _fuse(query: str, scored: list[Sentence], similarity: Similarity, top: list[int], leads: list[str]) -> list[int]:
    """`top` (indices into `scored`) ordered by the sum of z-scored BM25 and z-scored similarity."""
    if len(top) < 2:
        return top
    texts = [" ".join(f"{leads[k]} {scored[k].text}".split()) for k in top]
    others = [[float(x) for x in similarity(query, texts)]]

    def z(xs: list[float]) -> list[float]:
        mean = sum(xs) / len(xs)
        sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs))
        return [(x - mean) / sd if sd > 1e-9 else 0.0 for x in xs]

    fused = [sum(col) for col in zip(z([scored[k].score for k in top]), *(z(o) for o in others))]
    return [top[i] for i in sorted(range(len(top)), key=lambda i: (-fused[i], i))]


def _reorder(scored: list[Sentence], order: list[int]) -> list[Sentence]:
    """`scored` with the sentences of `order` taking their BM25 scores in that order."""
    out = list(scored)
    # A hair above the next score keeps the fused order when BM25 scores tie (often all 0
    # when the question shares no word with the sources).
    for rank, (k, value) in enumerate(zip(order, sorted((scored[k].score for k in order), reverse=True))):
        out[k] = Sentence(scored[k].source, scored[k].index, scored[k].text, value + 1e-6 * (len(order) - rank))
    return out


def is_cue(sentence: str) -> bool:
    """A question or a Markdown heading: text that frames an answer rather than giving one."""
    text = sentence.strip()
    return text.endswith("?") or text.startswith("#")


def select_evidence(
    query: str,
    sources: Sequence[Source],
    budget: int,
    count: Count,
    *,
    max_sentences: int = 8,
    similarity: Similarity | None = None,
    runner_up_margin: float = 0.2,
) -> tuple[list[tuple[Source, str]], Trim]:
    """The sentences most likely to hold the answer, within `budget` tokens, grouped by source.

    Sentences are taken best first, each with the question or heading just before it, until the
    budget or `max_sentences` answer sentences are reached (when few
    share a word with the question, the rest follow the sources' rank); each source
    then shows its chosen sentences in their original order. Sources are numbered by their best
    sentence, so [1] holds the best evidence; a source with no chosen sentence is dropped.
    Returns the same shape as `fit_sources`: (source, excerpt) pairs and a `Trim` report,
    whose `best` is the best sentence and `runner_up` the next one of the same source when it
    scores within `runner_up_margin` of it. `similarity`: see `score_sentences`.
    """
    trim = Trim(budget_tokens=max(budget, 0))
    scored = score_sentences(query, sources, similarity=similarity)
    ranked = sorted(scored, key=lambda s: (-s.score, s.source, s.index))
    before = {(s.source, s.index + 1): s for s in scored if is_cue(s.text)}
    chosen: dict[int, list[Sentence]] = {}
    for sent in ranked:
        if sum(not is_cue(x.text) for v in chosen.values() for x in v) >= max_sentences:
            break
        have = chosen.get(sent.source, [])
        if sent in have:
            continue
        # The question or heading an answer follows comes with it: the model reads the pair,
        # and the judge, which scores the excerpts again, still sees what the answer answers.
        lead = before.get((sent.source, sent.index))
        add = [sent] + ([lead] if lead is not None and lead not in have else [])
        trial = {**chosen, sent.source: sorted(have + add, key=lambda s: s.index)}
        cost = _cost(trial, count)
        if cost <= trim.budget_tokens:
            chosen, trim.used_tokens = trial, cost
    kept = []
    answers = sorted(
        (x for sents in chosen.values() for x in sents if not is_cue(x.text)),
        key=lambda s: (-s.score, s.source, s.index),
    )
    if answers:
        trim.best = " ".join(answers[0].text.split())
        # When BM25 barely separates the two best sentences of one source, the answer is about
        # as often in the second (benchmarks/evidence_choice.py): both are shown.
        if (
            len(answers) > 1
            and answers[1].source == answers[0].source
            and answers[0].score > 0
            and answers[1].score >= (1 - runner_up_margin) * answers[0].score
        ):
            trim.runner_up = " ".join(answers[1].text.split())
    # The best evidence first: a small model reads the start of its prompt most closely.
    best = {pos: max(x.score for x in sents) for pos, sents in chosen.items()}
    for pos in sorted(range(len(sources)), key=lambda p: (-best.get(p, float("-inf")), p)):
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
        # One sentence per line: the prompt shows the excerpt on one line (source_text), but the
        # judge splits it again, and a heading has no full stop to split at.
        out += ("… " if gap else "") + " ".join(s.text.split()) + "\n\n"
        last = s.index
    return out.strip()


def _cost(chosen: dict[int, list[Sentence]], count: Count) -> int:
    return sum(count(source_text(_excerpt(sents))) for sents in chosen.values())


# -- attributing and checking the answer ---------------------------------------------------------


@dataclass
class Claim:
    """One sentence of the answer, the source sentence that best supports it, and how well."""

    text: str
    n: int | None  # the cited source, 1-based in the prompt's numbering; None if nothing matches
    evidence: str = ""
    support: float = 0.0  # share of the claim's content words found in the evidence
    missing: list[str] = field(default_factory=list)  # content words and numbers not found


def attribute(answer: str, kept: Sequence[tuple[Source, str]]) -> list[Claim]:
    """Match each answer sentence to the source sentence that covers most of its words.

    A claim's support is the share of its content words (and numbers) that the best sentence
    contains; words of the neighbouring sentences count too, so "It opened in 1887" matches
    across a pronoun. Ties go to the model's own citation, then to the better-ranked source.
    """
    units = []  # (n, sentence, its own terms, its terms with its neighbours')
    for n, (_, text) in enumerate(kept, start=1):
        sents = [s for s in split_sentences(text) if s.strip()]
        for j, s in enumerate(sents):
            near = " ".join(sents[max(j - 1, 0) : j + 2])
            units.append((n, " ".join(s.split()), set(terms(s)) | numbers(s), set(terms(near)) | numbers(near)))
    claims = []
    answer = _CITATION_AFTER_END.sub(r" \2\1", answer)  # "moon. [2]" -> "moon [2]."
    for sentence in split_sentences(answer):
        text = " ".join(strip_citations(sentence).split())
        need = set(terms(text)) | numbers(text)
        if not text or not need:
            continue
        own = set(parse_citations(sentence, len(kept)))
        best, best_key = None, None
        for n, s, mine, have in units:
            key = (
                len(need & have),
                len(need & mine),
                n in own,
            )  # a neighbour's words count, the sentence's own decide ties
            if best_key is None or key > best_key:
                best, best_key = (n, s, have), key
        if best is None or best_key[0] == 0:
            claims.append(Claim(text, None, "", 0.0, sorted(need)))
            continue
        n, s, have = best
        claims.append(Claim(text, n, s, best_key[0] / len(need), sorted(need - have)))
    return claims


def abstains(answer: str) -> bool:
    """The answer says the sources do not cover the question ("I don't know", "not mentioned")."""
    return bool(_ABSTAIN.search(strip_citations(answer)))


def coverage(query: str, sentence: str) -> float:
    """Share of the question's distinct content words that `sentence` contains."""
    q = set(terms(query))
    return len(q & set(terms(sentence))) / len(q) if q else 0.0


def best_evidence(
    query: str,
    kept: Sequence[tuple[Source, str]],
    *,
    similarity: Similarity | None = None,
) -> Sentence | None:
    """The sentence of the given excerpts that best matches the question; `source` is 0-based."""
    ranked = sorted(
        score_sentences(query, [Source(text=t) for _, t in kept], similarity=similarity),
        key=lambda s: (-s.score, s.source, s.index),
    )
    return ranked[0] if ranked else None


def quote(sentence: str, *, max_words: int = 50, query: str = "", after: int = 12) -> str:
    """The sentence on one line, without a leading gap mark, cut to about `max_words`.

    Given the `query`, a long sentence (a list, a run-on) is cut where the answer is likely to be:
    - when its first `max_words` words miss some of the question's words it holds, it keeps its
      start and adds the stretch where the first missing one is, after a gap mark ("There are
      several departments: … Veterans Affairs …");
    - otherwise the answer usually follows the question's last word, so the cut moves up to
      `after` words past it ("a 15-year-old boy in 1700 could expect to live to 63"), within
      `max_words + 20` words.
    """
    w = " ".join(sentence.split()).lstrip("… ").split(" ")
    if len(w) <= max_words:
        return " ".join(w)
    asked = set(terms(query))
    seen = set(terms(" ".join(w[:max_words])))
    later = next((i for i in range(max_words, len(w)) if (set(terms(w[i])) & asked) - seen), None)
    if later is None:
        last = max((i for i in range(max_words) if set(terms(w[i])) & asked), default=-1)
        end = min(len(w), max(max_words, last + 1 + after), max_words + 20) if last >= 0 else max_words
        return " ".join(w[:end]) + (" …" if end < len(w) else "")
    head = max_words * 2 // 5
    start = max(head, later - max_words // 5)
    end = start + max_words - head
    return " ".join(w[:head]) + " … " + " ".join(w[start:end]) + (" …" if end < len(w) else "")


@dataclass
class Verdict:
    """What /answer shows for a model's answer, and why."""

    text: str  # what the user reads
    supported: bool  # the verdict is "answer": the cited sentence answers the question
    cited: list[int]  # source numbers, 1-based
    claims: list[Claim] = field(default_factory=list)  # the model's sentences, attributed
    reason: str = ""  # why it is hedged or not found, in words a user can read
    verdict: str = NOT_FOUND  # "answer", "likely" or "not_found"
    confidence: float = 0.0  # calibrated probability that the shown sentence answers the question
    candidate: str = ""  # the best-matching sentence(s): shown for answer and likely, withheld for not_found
    signals: dict = field(default_factory=dict)  # what the calibration read, by name
    calibration: str = ""  # which calibrated model read them


NOT_FOUND_TEXT = "Your documents don't seem to answer this."


def judge(
    query: str,
    answer: str,
    kept: Sequence[tuple[Source, str]],
    *,
    similarity: Similarity | None = None,
    best: str = "",
    runner_up: str = "",
    model_read: bool = True,
    calibration: Calibration | None = None,
) -> Verdict:
    """Decide what the user reads, from the model's answer and the excerpts it was given.

    The candidate is the excerpt sentence that best matches the question. The model's answer is
    attributed to the source sentence it comes from (its *pointer*). Signals of the candidate
    (question words it covers, BM25 and MiniLM margins over the next sentences, whether the
    model's pointer agrees, whether it holds the kind of answer asked for, whether it reads as
    prose) go through the calibrated model of `confidence`, which gives the probability that the
    candidate answers the question, and its thresholds give the verdict:

    - answer: the candidate, cited "[n]" (small models paraphrase the answer away more often
      than they pick the wrong sentence, so the user reads the source's words);
    - likely: "The best match in your documents [n]: “…”";
    - not_found: "Your documents don't seem to answer this.", quoting nothing.

    `model_read` is False when no model wrote `answer` (the extractive backend): the calibration
    then reads the signals without the pointer. `best`: the sentence of the first excerpt that
    chose the evidence (`Trim.best`), which saves scoring the excerpts again; `runner_up`
    (`Trim.runner_up`), when it is in the first excerpt too, is shown with it, in the source's order.
    """
    first = [" ".join(s.split()).lstrip("… ") for s in split_sentences(kept[0][1])] if kept else []
    shown = ""
    if best and best in first:
        n_best, sentence = 1, best
        if runner_up and runner_up in first and runner_up != best:
            a, b = sorted((best, runner_up), key=first.index)
            gap = " " if first.index(b) == first.index(a) + 1 else " … "
            shown = quote(a, query=query) + gap + quote(b, query=query)
    else:
        found = best_evidence(query, kept, similarity=similarity)
        if found is None:
            return Verdict(NOT_FOUND_TEXT, False, [], reason="No passages were given.")
        n_best, sentence = found.source + 1, " ".join(found.text.split())
    paired = bool(shown)  # the runner-up is shown with the best
    shown = shown or quote(sentence, query=query)
    abstained = abstains(answer)
    claims = [] if abstained else attribute(answer, kept)
    pointer = max(claims, key=lambda c: c.support, default=None)
    ev = Evidence(
        query=query,
        sentence=shown,
        runner_up_shown=paired,
        near=_with_previous(sentence, kept[n_best - 1][1]),
        model_text=strip_citations(answer) if model_read else None,
        pointer_agrees=pointer is not None and (pointer.n, pointer.evidence) == (n_best, sentence),
        pointer_support=pointer.support if pointer is not None else 0.0,
        pointer_numbers_ok=pointer is None or not any(_NUMBER.search(m) for m in pointer.missing),
        abstained=abstained,
        **_competition(query, kept, n_best, sentence, similarity),
    )
    x = signals(ev, terms=terms, coverage=coverage)
    verdict, p, model = (calibration or default_calibration()).judge(x)
    common = dict(
        claims=claims,
        reason=plain_reason(verdict, x),
        verdict=verdict,
        confidence=p,
        candidate=shown,
        signals=x,
        calibration=model,
    )
    if verdict == ANSWER:
        return Verdict(f"{_without_end(shown)} [{n_best}].", True, [n_best], **common)
    if verdict == LIKELY:
        return Verdict(f"The best match in your documents [{n_best}]: \u201c{shown}\u201d", False, [n_best], **common)
    return Verdict(NOT_FOUND_TEXT, False, [], **common)


def _with_previous(sentence: str, excerpt: str) -> str:
    sents = [" ".join(s.split()).lstrip("… ") for s in split_sentences(excerpt)]
    i = sents.index(sentence) if sentence in sents else -1
    return f"{sents[i - 1]} {sentence}" if i > 0 else sentence


def _competition(
    query: str,
    kept: Sequence[tuple[Source, str]],
    n_best: int,
    sentence: str,
    similarity: Similarity | None,
    others: int = 2,
) -> dict:
    """BM25 (over the excerpts' sentences) and cosine of the candidate, then of the best `others`
    other sentences: how clearly the candidate stands out."""
    scored = [x for x in score_sentences(query, [Source(text=t) for _, t in kept]) if not is_cue(x.text)]
    mine = next(
        (x for x in scored if x.source == n_best - 1 and " ".join(x.text.split()).lstrip("… ") == sentence), None
    )
    rest = sorted((x for x in scored if x is not mine), key=lambda x: (-x.score, x.source, x.index))[:others]
    bm25 = [mine.score if mine else 0.0] + [x.score for x in rest]
    others = [" ".join(x.text.split()) for x in rest]
    cosine = None
    if similarity is not None:
        try:
            cosine = [float(c) for c in similarity(query, [sentence] + others)]
        except Exception:
            cosine = None  # the calibration then reads the signals without it
    return {"bm25": bm25, "cosine": cosine, "others": others}


def _without_end(text: str) -> str:
    return text[:-1].rstrip() if text.endswith((".", "!", "?")) else text


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
    it. `text` stays empty until the verdict, then holds the whole answer.

    Usage:
        gate = AnswerGate(query, kept)
        for piece in gate.watch(model_stream):   # stops pulling from the model when the gate closes
            ...
        verdict = gate.finish()                  # verdict.text is what the user reads

    Args:
        query: the question.
        kept: the (source, excerpt) pairs the model was given, numbered from 1.
        max_words: the model's answer is judged once it is this long, sentence or not.
        similarity: see `score_sentences`; the one that chose the evidence.
        best, runner_up: the evidence sentences as chosen with the sources (`Trim`); see `judge`.
        model_read, calibration: see `judge`.
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
    ):
        self.query, self.kept, self.max_words = query, list(kept), max_words
        self.model_read, self.calibration = model_read, calibration
        self.similarity, self.best, self.runner_up = similarity, best, runner_up
        self.raw = ""  # what the model wrote
        self.text = ""  # what the user sees
        self.closed = ""  # why generation stopped early: "sentence", "repetition", "length", or ""
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

    def finish(self) -> Verdict:
        """The verdict on what the model wrote; sets `text`."""
        if self.verdict is None:
            first = next((s for s in split_sentences(self.raw) if terms(s) or numbers(s)), self.raw)
            self.verdict = judge(
                self.query,
                first,
                self.kept,
                similarity=self.similarity,
                best=self.best,
                runner_up=self.runner_up,
                model_read=self.model_read,
                calibration=self.calibration,
            )
            self.text = self.verdict.text
        return self.verdict

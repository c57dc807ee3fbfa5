"""Which source sentences answer the question: the words that count, and the sentences chosen.

Pure functions, text in and data out, tested without a model. Sentences are scored with BM25
over the sources' own sentences (with a light stemmer), and the best few are reordered with a
`Similarity` (an embedding model's cosine, passed in) when one is given, which catches
paraphrases that share no word with the question. `select_evidence` picks the sentences a
prompt holds within a token budget; `best_evidence` the one sentence that matches best.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from rag_contract.answer_model import neighbours, pair_text

from .prompts import Source, Trim, source_text, split_sentences

Count = Callable[[str], int]
# (question, sentences) -> one similarity per sentence, higher is closer.
Similarity = Callable[[str, Sequence[str]], Sequence[float]]
# (question, pair texts) -> the answer reader's probability that each answers it (sentence_reader.py).
ReaderScore = Callable[[str, Sequence[str]], Sequence[float]]

_TOKEN = re.compile(r"[^\W_]+(?:[.,'’][^\W_]+)*", re.UNICODE)
_NUMBER = re.compile(r"\d")
_CITATION_MARK = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
_CITATION_AFTER_END = re.compile(r"([.!?])\s*((?:\[\d+(?:\s*,\s*\d+)*\])+)")
# (suffix, replacement), longest first; the first that leaves a stem of 3+ letters wins.
_SUFFIXES = [
    tuple(rule.split(":"))
    for rule in "ational:ate ization:ize fulness:ful iveness:ive ingly: edly: ies:y ied:y ing: ed: es: ly: s:".split()
]
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below between both but by
    can could did do does doing down during each few for from further had has have having he her here hers herself him himself his how
    i if in into is it its itself just let me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these they this those through to too under
    until up upon very was we were what when where which while who whom whose why will with would you your yours yourself yourselves
    s t many much according source sources text passage answer question""".split()
)


def stem(word: str) -> str:
    """A light, dependency-free English stemmer: enough to match 'founded' with 'founding'."""
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) <= 3 or _NUMBER.search(w):
        return w
    for suffix, keep in _SUFFIXES:
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
    read: float | None = None  # the answer reader's probability that it answers, when a reader scored it


def score_sentences(
    query: str,
    sources: Sequence[Source],
    *,
    similarity: Similarity | None = None,
    candidates: int = 6,
    reader: ReaderScore | None = None,
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

    With a `reader` (the answer cross-encoder), every sentence is read with the one before it, and
    the reader's order replaces both (the same way: the BM25 scores are taken in its order), and
    each sentence carries its probability in `read`. The reader reads the answer, not only the
    question's words (BENCHMARKS.md, "A reader that reads the answer").
    """
    q = Counter(terms(query))
    split = [[s for s in split_sentences(src.text) if s.strip()] for src in sources]
    flat = [(i, j, s, terms(s)) for i, sents in enumerate(split) for j, s in enumerate(sents)]
    if not flat:
        return []
    n = len(flat)
    own = _bm25(q, [ts for *_, ts in flat])
    cue, echo = [is_cue(s) for _, _, s, _ in flat], [quotes_question(query, s) for _, _, s, _ in flat]
    out = []
    for k, (i, j, s, _) in enumerate(flat):
        context = sum(own[m] for m in (k - 1, k + 1) if 0 <= m < n and flat[m][0] == i)
        # A question or a heading is not an answer, but it says what the next sentence answers
        # (FAQs, "## Installation"): its match counts for the sentence after it.
        lead = own[k - 1] if k and cue[k - 1] and flat[k - 1][0] == i else 0.0
        score = 0.25 * context + (0.0 if cue[k] or echo[k] else own[k] + lead)
        out.append(Sentence(source=i, index=j, text=s, score=score))
    if reader is not None:
        return _read(query, out, flat, [c or e for c, e in zip(cue, echo)], reader)
    if similarity is None:
        return out
    leads = [flat[k - 1][2] if k and cue[k - 1] and flat[k - 1][0] == flat[k][0] else "" for k in range(n)]
    top = sorted((k for k in range(n) if not (cue[k] or echo[k])), key=lambda k: (-out[k].score, k))[:candidates]
    return _reorder(out, _fuse(query, out, similarity, top, leads))


def _read(query: str, scored: list[Sentence], flat: list, cue: list[bool], reader: ReaderScore) -> list[Sentence]:
    """`scored` in the reader's order, each answer sentence with its probability."""
    answers = [k for k in range(len(flat)) if not cue[k]]
    context, own = getattr(reader, "context", "previous"), {}  # each source's sentences, as the reader was trained
    for i, _, s, _ in flat:
        own.setdefault(i, []).append(s)
    texts = [pair_text(flat[k][2], *neighbours(own[flat[k][0]], flat[k][1], context)) for k in answers]
    probs = [float(p) for p in reader(query, texts)] if texts else []
    order = [answers[i] for i in sorted(range(len(answers)), key=lambda i: (-probs[i], answers[i]))]
    out = _reorder(scored, order)
    for k, p in zip(answers, probs):
        out[k] = replace(out[k], read=p)
    return out


def _bm25(query: Counter, docs: list[list[str]], k1: float = 1.2, b: float = 0.75) -> list[float]:
    """BM25 of each of `docs` (term lists) for the query's terms, statistics from `docs` alone."""
    n = len(docs)
    df = Counter(t for ts in docs for t in set(ts))
    avg = sum(len(ts) for ts in docs) / n or 1.0

    def score(ts: list[str]) -> float:
        tf = Counter(ts)
        norm = k1 * (1 - b + b * len(ts) / avg)
        return sum(
            math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) * tf[t] * (k1 + 1) / (tf[t] + norm) for t in query if tf[t]
        )

    return [score(ts) for ts in docs]


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


def quotes_question(query: str, sentence: str) -> bool:
    """The sentence holds the question itself, word for word (a command that asks it, a FAQ's
    question run into its text): it shows the question, so it is not the answer. Questions of
    fewer than four words are left alone, since those words turn up in answers too."""
    asked = [w.lower() for w in words(query)]
    return len(asked) >= 4 and f" {' '.join(asked)} " in f" {' '.join(w.lower() for w in words(sentence))} "


def is_cue(sentence: str) -> bool:
    """A question or a Markdown heading: text that frames an answer rather than giving one."""
    text = sentence.strip()
    return text.endswith("?") or text.startswith("#")


@dataclass
class EvidenceTrim(Trim):
    """`select_evidence`'s budget report, with the sentences it chose as the answer's evidence."""

    best: str = ""  # the best evidence sentence, in the first source kept
    runner_up: str = ""  # a second sentence of that source that scored nearly as well ("" when none did)
    reading: dict = field(default_factory=dict)  # the answer reader's view (reader_signals), empty without one


def select_evidence(
    query: str,
    sources: Sequence[Source],
    budget: int,
    count: Count,
    *,
    max_sentences: int = 8,
    similarity: Similarity | None = None,
    runner_up_margin: float = 0.2,
    reader: ReaderScore | None = None,
) -> tuple[list[tuple[Source, str]], EvidenceTrim]:
    """The sentences most likely to hold the answer, within `budget` tokens, grouped by source.

    Sentences are taken best first, each with the question or heading just before it, until the
    budget or `max_sentences` answer sentences are reached (when few
    share a word with the question, the rest follow the sources' rank); each source
    then shows its chosen sentences in their original order. Sources are numbered by their best
    sentence, so [1] holds the best evidence; a source with no chosen sentence is dropped.
    Returns the same shape as `fit_sources`: (source, excerpt) pairs and a `Trim` report,
    whose `best` is the best sentence and `runner_up` the next one of the same source when it
    scores within `runner_up_margin` of it. `similarity`, `reader`: see `score_sentences`; with a
    reader, `trim.reading` holds its view of every sentence sent (`reader_signals`).
    """
    trim = EvidenceTrim(budget_tokens=max(budget, 0))
    scored = score_sentences(query, sources, similarity=similarity, reader=reader)
    chosen = _choose(scored, count, trim, max_sentences)
    trim.best, trim.runner_up = _best_two(chosen, runner_up_margin)
    trim.reading = reader_signals(scored, trim.best, query) if reader is not None else {}
    # The best evidence first: a small model reads the start of its prompt most closely.
    kept = []
    best = {pos: max(x.score for x in sents) for pos, sents in chosen.items()}
    for pos in sorted(range(len(sources)), key=lambda p: (-best.get(p, float("-inf")), p)):
        if pos in chosen:
            kept.append((sources[pos], _excerpt(chosen[pos])))
            trim.kept.append(pos)
            if len(chosen[pos]) < len(split_sentences(sources[pos].text)):
                trim.cut.append(pos)
        else:
            trim.dropped.append(pos)
    return kept, trim


def _choose(scored: list[Sentence], count: Count, trim: Trim, max_sentences: int) -> dict[int, list[Sentence]]:
    """Sentences best first, each source's in their order, until the budget or `max_sentences`
    answer sentences; records the tokens used in `trim`."""
    before = {(s.source, s.index + 1): s for s in scored if is_cue(s.text)}
    chosen: dict[int, list[Sentence]] = {}
    for sent in sorted(scored, key=lambda s: (-s.score, s.source, s.index)):
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
    return chosen


def _best_two(chosen: dict[int, list[Sentence]], margin: float) -> tuple[str, str]:
    """The best answer sentence, and the next of the same source when it scores within `margin`."""
    answers = sorted(
        (x for sents in chosen.values() for x in sents if not is_cue(x.text)),
        key=lambda s: (-s.score, s.source, s.index),
    )
    if not answers:
        return "", ""
    first, runner_up = answers[0], ""
    # When BM25 barely separates the two best sentences of one source, the answer is about
    # as often in the second (benchmarks/evidence_choice.py): both are shown.
    if len(answers) > 1:
        second = answers[1]
        close = (
            second.read >= (1 - margin) * first.read
            if first.read is not None and second.read is not None
            else first.score > 0 and second.score >= (1 - margin) * first.score
        )
        if second.source == first.source and close:
            runner_up = " ".join(second.text.split())
    return " ".join(first.text.split()), runner_up


def reader_signals(scored: list[Sentence], best: str, query: str = "") -> dict[str, float]:
    """What the calibration reads of the reader: its probability for the best sentence (as a
    logit), its margin over the next sentence anywhere, and the best of the other sources.

    A sentence that `agrees` with the best one is not counted as its competitor: a project's docs
    say the same fact in README, the FAQ and a Space card, and three passages telling one answer
    are not three answers."""
    read = [s for s in scored if s.read is not None]
    top = next((s for s in read if " ".join(s.text.split()) == best), None)
    if top is None:
        return {}
    rivals = [s for s in read if s is not top and not agrees(s.text, top.text, query)]
    rest = [s.read for s in rivals]
    others = [s.read for s in rivals if s.source != top.source]
    return {
        "reader_logit": _logit(top.read),
        "reader_margin": _logit(top.read) - _logit(max(rest, default=0.0)),
        "reader_others_logit": _logit(max(others, default=0.0)),
    }


def marks(text: str) -> set[str]:
    """The words that name one thing: those with a digit or a capital past the first letter
    ('1807', '7860', 'SmolLM2', 'AMX'), lower-cased."""
    return {w.lower().replace(",", "") for w in words(text) if _NUMBER.search(w) or any(c.isupper() for c in w[1:])}


def agrees(sentence: str, best: str, query: str = "") -> bool:
    """Whether `sentence` names what `best` names beyond the question: two of its marks, or its
    only one. A sentence without such a mark agrees with nothing (a shared topic is not a shared
    answer)."""
    named = marks(best) - marks(query)
    return bool(named) and len(named & marks(sentence)) >= min(2, len(named))


def states(excerpt: str, sentence: str, query: str = "") -> bool:
    """Whether a sentence of `excerpt` `agrees` with `sentence`."""
    return any(agrees(x, sentence, query) for x in split_sentences(excerpt))


def _logit(p: float) -> float:
    p = min(max(float(p), 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


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


def coverage(query: str, sentence: str) -> float:
    """Share of the question's distinct content words that `sentence` contains."""
    q = set(terms(query))
    return len(q & set(terms(sentence))) / len(q) if q else 0.0


def best_evidence(
    query: str,
    kept: Sequence[tuple[Source, str]],
    *,
    similarity: Similarity | None = None,
    reader: ReaderScore | None = None,
) -> Sentence | None:
    """The sentence of the given excerpts that best matches the question; `source` is 0-based."""
    ranked = sorted(
        score_sentences(query, [Source(text=t) for _, t in kept], similarity=similarity, reader=reader),
        key=lambda s: (-s.score, s.source, s.index),
    )
    return ranked[0] if ranked else None

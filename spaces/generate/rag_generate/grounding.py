"""Pure functions that keep an answer grounded: which source each answer sentence comes from,
whether the sources back it, and the verdict a person reads (gate.py holds the gate that feeds it).

Everything here takes text and returns data, so it is tested without a model. Checking is
lexical (content words with a light stemmer, and numbers; see evidence.py): a claim whose words
are not in its source is not backed by it, whatever a model would say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from .confidence import (
    ANSWER,
    LIKELY,
    MODEL_SIGNALS,
    NOT_FOUND,
    Calibration,
    Evidence,
    default_calibration,
    plain_reason,
    retrieval_standing,
    signals,
)
from .evidence import (
    _CITATION_AFTER_END,
    _NUMBER,
    Similarity,
    best_evidence,
    coverage,
    is_cue,
    numbers,
    score_sentences,
    states,
    strip_citations,
    terms,
)
from .prompts import Source, leans_back, parse_citations, split_sentences

# Answers that say the sources do not cover the question.
_ABSTAIN = re.compile(
    r"\b(i (do not|don't|cannot|can't) (know|find|answer|tell)|not "
    r"(mentioned|stated|provided|given|specified)|no (information|mention)|(does|do) not "
    r"(say|mention|contain|specify|provide))\b",
    re.I,
)


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


def quote(sentence: str, *, max_words: int = 50, query: str = "", after: int = 12) -> str:
    """The sentence on one line, without a leading gap mark, cut to about `max_words`.

    A sentence up to 1.4 x `max_words` is shown whole: a cut there saves a few words and can drop
    the answer ("… the remaining 20 percent were split between …" cut to "… were split between …").
    Given the `query`, a longer sentence (a list, a run-on) is cut where the answer is likely to be:
    - when its first `max_words` words miss some of the question's words it holds, it keeps its
      start and adds the stretch where the first missing one is, after a gap mark ("There are
      several departments: … Veterans Affairs …");
    - otherwise the answer usually follows the question's last word, so the cut moves up to
      `after` words past it ("a 15-year-old boy in 1700 could expect to live to 63"), within
      1.4 x `max_words` words.
    """
    w = " ".join(sentence.split()).lstrip("… ").split(" ")
    most = max_words + max_words * 2 // 5
    if len(w) <= most:
        return " ".join(w)
    asked = set(terms(query))
    seen = set(terms(" ".join(w[:max_words])))
    later = next((i for i in range(max_words, len(w)) if (set(terms(w[i])) & asked) - seen), None)
    if later is None:
        last = max((i for i in range(max_words) if set(terms(w[i])) & asked), default=-1)
        end = min(len(w), max(max_words, last + 1 + after), most) if last >= 0 else max_words
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
    reading: dict | None = None,
    settle: bool = False,
) -> Verdict | None:
    """Decide what the user reads, from the model's answer and the excerpts it was given.

    The candidate is the excerpt sentence that best matches the question (`best`, as chosen with
    the evidence; `runner_up` beside it when it scored nearly as well). The model's answer is
    attributed to its source sentence (its pointer). The calibration (confidence.py) reads the
    candidate's signals: "answer" shows the candidate cited "[n]" (small models paraphrase the
    answer away more often than they pick the wrong sentence); "likely" shows it hedged;
    "not_found" quotes nothing. `model_read` is False when no model wrote `answer` (the
    extractive backend). `reading` is the answer reader's view of `best` (`EvidenceTrim.reading`).
    With `settle`, before the model writes: the verdict whatever it writes, or None when it could
    change it (`Calibration.settled`)."""
    candidate = _candidate(query, kept, best, runner_up, similarity)
    if candidate is None:
        return Verdict(NOT_FOUND_TEXT, False, [], reason="No passages were given.")
    n_best, _sentence, shown, _paired = candidate
    claims = [] if abstains(answer) else attribute(answer, kept)
    x = signals(
        _evidence(query, answer, kept, candidate, claims, similarity, model_read), terms=terms, coverage=coverage
    )
    x.update(reading if reading and n_best == 1 and _sentence == " ".join(best.split()) else {})
    decided = _calibrated(x, calibration or default_calibration(), settle)
    if decided is None:
        return None
    verdict, p, model, x = decided
    leaning = not _paired and leans_back(_sentence)
    said = _with_previous(shown, kept[n_best - 1][1], shown=_sentence) if leaning else shown
    return Verdict(
        *_wording(verdict, said, n_best),
        claims=claims,
        reason=plain_reason(verdict, x),
        verdict=verdict,
        confidence=p,
        candidate=shown,
        signals=x,
        calibration=model,
    )


def _calibrated(x: dict, calibration: Calibration, settle: bool) -> tuple[str, float, str, dict] | None:
    """(verdict, confidence, model name, the signals it read); with `settle`, None when the
    model's answer could still change the verdict."""
    if not settle:
        return (*calibration.judge(x), x)
    settled = calibration.settled(x)
    if settled is None:
        return None
    return (*settled, {k: v for k, v in x.items() if k not in MODEL_SIGNALS})  # the model wrote nothing


def _evidence(query, answer, kept, candidate, claims, similarity, model_read: bool) -> Evidence:
    """What the calibration reads about the candidate: its competition, and the model's pointer
    (the source sentence the model's answer comes from)."""
    n_best, sentence, shown, paired = candidate
    pointer = max(claims, key=lambda c: c.support, default=None)
    return Evidence(
        query=query,
        sentence=shown,
        runner_up_shown=paired,
        near=_with_previous(sentence, kept[n_best - 1][1]),
        model_text=strip_citations(answer) if model_read else None,
        pointer_agrees=pointer is not None and (pointer.n, pointer.evidence) == (n_best, sentence),
        pointer_support=pointer.support if pointer is not None else 0.0,
        pointer_numbers_ok=pointer is None or not any(_NUMBER.search(m) for m in pointer.missing),
        abstained=abstains(answer),
        **_competition(query, kept, n_best, sentence, similarity),
        **retrieval_standing([s for s, _ in kept], n_best, [states(t, sentence, query) for _, t in kept]),
    )


def _candidate(
    query: str, kept: Sequence[tuple[Source, str]], best: str, runner_up: str, similarity: Similarity | None
) -> tuple[int, str, str, bool] | None:
    """(source number, best sentence, what is shown, whether the runner-up is shown with it),
    or None without excerpts. The runner-up is shown when it is in the first excerpt too, in the
    source's order, with "…" between the two when they are not neighbours."""
    first = [" ".join(s.split()).lstrip("… ") for s in split_sentences(kept[0][1])] if kept else []
    if best and best in first:
        if runner_up and runner_up in first and runner_up != best:
            a, b = sorted((best, runner_up), key=first.index)
            gap = " " if first.index(b) == first.index(a) + 1 else " … "
            return 1, best, quote(a, query=query) + gap + quote(b, query=query), True
        return 1, best, quote(best, query=query), False
    found = best_evidence(query, kept, similarity=similarity)
    if found is None:
        return None
    sentence = " ".join(found.text.split())
    return found.source + 1, sentence, quote(sentence, query=query), False


def _wording(verdict: str, shown: str, n: int) -> tuple[str, bool, list[int]]:
    """What the user reads for a verdict, whether it is supported, and the sources it cites."""
    if verdict == ANSWER:
        return f"{_without_end(shown)} [{n}].", True, [n]
    if verdict == LIKELY:
        return f"The best match in your documents [{n}]: \u201c{shown}\u201d", False, [n]
    return NOT_FOUND_TEXT, False, []


def _with_previous(sentence: str, excerpt: str, *, shown: str = "") -> str:
    """`sentence` with the one before it in `excerpt` (as it is when it is the first). With
    `shown`, the sentence is found by `shown` and `sentence` (its quoted form) is what follows."""
    sents = [" ".join(s.split()).lstrip("… ") for s in split_sentences(excerpt)]
    key = shown or sentence
    i = sents.index(key) if key in sents else -1
    return f"{quote(sents[i - 1]) if shown else sents[i - 1]} {sentence}" if i > 0 else sentence


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

"""How sure the answer is: the probability that the sentence a person reads answers the question,
and the verdict that follows from it.

Pure functions, text and numbers in, data out. `signals` measures a candidate sentence against
the question and the model's own answer; a `Calibration` (a logistic regression fitted on the
development half of the QA set by `benchmarks/fit_confidence.py`, kept in calibration.json) turns
the signals into a probability; `decide` turns that into one of three verdicts with the
thresholds fitted beside it, each chosen for a stated risk:

    answer      the sentence, cited: wrong at most `risk` of the time on the development half
    likely      the best match, cited and hedged
    not_found   nothing is quoted: the best match is unrelated to the question
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

log = logging.getLogger(__name__)

ANSWER, LIKELY, NOT_FOUND = "answer", "likely", "not_found"
CALIBRATION_FILE = Path(__file__).with_name("calibration.json")

_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})s?\b")
_MONTH = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\b", re.I)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand|million|billion|dozen)\b",
    re.I,
)
_CODE = re.compile(r"[{}();=<>|`_/\\]|^\s*(def|class|import|from|return|if|for|while|\$|>>>|#)\b")


def answer_type(query: str) -> str:
    """What kind of answer the question asks for: "time", "number", "person", "place", or ""."""
    q = " ".join(query.lower().split())
    if re.search(
        r"\bhow (many|much|long|old|far|big|large|high|tall)\b|\bwhat (percentage|percent|number|amount)\b", q
    ):
        return "number"
    if re.search(
        r"^when\b|\bwhen (did|was|were|is|does|do)\b|\bwhat (year|decade|century|date|month|day|time)\b|\bin which year\b|\bwhich year\b",
        q,
    ):
        return "time"
    if re.search(r"^(who|whom|whose)\b|\b(who|whom|whose) (is|was|were|did|does)\b", q):
        return "person"
    if re.search(
        r"^where\b|\bwhere (is|was|were|did|does|do)\b|\bwhat (country|city|state|town|region|place)\b|\bin which (country|city|state|town)\b",
        q,
    ):
        return "place"
    return ""


def type_match(kind: str, sentence: str, query: str) -> float:
    """1.0 when `sentence` holds the kind of thing the question asks for, else 0.0 (also when
    the question asks for no particular kind)."""
    if kind == "time":
        return float(bool(_YEAR.search(sentence) or _MONTH.search(sentence)))
    if kind == "number":
        return float(bool(_NUMBER.search(sentence)))
    if kind in ("person", "place"):
        asked = {w.lower() for w in re.findall(r"[A-Za-z]+", query)}
        later = re.findall(r"[A-Za-z][\w'-]*", sentence)[1:]  # the first word is capitalised anyway
        return float(any(w[0].isupper() and w.lower() not in asked for w in later))
    return 0.0


def prose(sentence: str) -> float:
    """Share of the sentence's characters that are letters or spaces: low for code, tables, lists of numbers."""
    s = sentence.strip()
    if not s:
        return 0.0
    letters = sum(c.isalpha() or c.isspace() for c in s)
    penalty = 0.2 if _CODE.search(s) else 0.0
    return max(letters / len(s) - penalty, 0.0)


@dataclass(frozen=True)
class Evidence:
    """What the signals read: the candidate sentence, its competition and the model's pointer."""

    query: str
    sentence: str  # what `answer` or `likely` would show: the best-matching sentence (and a close runner-up)
    near: str = ""  # that sentence with the one before it in its source, for pronouns and headings
    bm25: Sequence[float] = ()  # BM25 of the best few sentences of the excerpts, best first (the candidate first)
    cosine: Sequence[float] | None = None  # the same sentences' cosine with the question, or None without an embedder
    others: Sequence[str] = ()  # the text of those next-best sentences
    runner_up_shown: bool = False  # a second sentence is shown with the best
    model_text: str | None = None  # the model's first sentence, or None when no model read the sources
    pointer_agrees: bool = False  # the model's answer comes from the candidate sentence
    pointer_support: float = 0.0  # share of the model's content words in the sentence it comes from
    pointer_numbers_ok: bool = True  # every number of the model's answer is in that sentence
    abstained: bool = False  # the model said the sources do not answer
    source_rank: int | None = None  # the candidate's source's place in a retrieved table (None: not retrieved)
    source_score_z: float = 0.0  # its retrieval score against the other sources'


def signals(ev: Evidence, *, terms, coverage) -> dict[str, float]:
    """The numbers the calibration reads, by name. `terms` and `coverage` are grounding's own
    (passed in to keep this module free of grounding's imports)."""
    q = set(terms(ev.query))
    s_terms = set(terms(ev.sentence))
    kind = answer_type(ev.query)
    b = list(ev.bm25) or [0.0]
    out = {
        "coverage": coverage(ev.query, ev.sentence),
        "coverage_near": coverage(ev.query, ev.near or ev.sentence),
        "novel": len(s_terms - q) / len(s_terms) if s_terms else 0.0,
        "bm25_margin": (b[0] - b[1]) / b[0] if len(b) > 1 and b[0] > 0 else (1.0 if b[0] > 0 else 0.0),
        "bm25_log": math.log1p(max(b[0], 0.0)),
        "type_asked": float(bool(kind)),
        "type_match": type_match(kind, ev.sentence, ev.query),
        "others_type_match": sum(type_match(kind, o, ev.query) for o in ev.others) / len(ev.others)
        if kind and ev.others
        else 0.0,
        "prose": prose(ev.sentence),
        "length_log": math.log1p(len(ev.sentence.split())),
        "question_log": math.log1p(len(q)),
        "runner_up_shown": float(ev.runner_up_shown),
    }
    if ev.cosine is not None:
        c = list(ev.cosine) or [0.0]
        out["cosine"] = float(c[0])
        out["cosine_margin"] = float(c[0] - max(c[1:])) if len(c) > 1 else 0.0
    if ev.source_rank is not None:
        out["source_rank_inv"] = 1.0 / (1.0 + ev.source_rank)
        out["source_score_z"] = float(ev.source_score_z)
    if ev.model_text is not None:
        m = set(terms(ev.model_text))
        m_new = m - q  # what the model adds to the question: its answer, if it has one
        out.update(
            model_answer_in_sentence=len(m_new & s_terms) / len(m_new) if m_new else 0.0,
            pointer_agrees=float(ev.pointer_agrees),
            pointer_support=ev.pointer_support,
            pointer_numbers_ok=float(ev.pointer_numbers_ok),
            abstained=float(ev.abstained),
            model_in_sentence=len(m & s_terms) / len(m) if m else 0.0,
        )
    return out


# What the model's answer adds to the signals (`signals` with `model_text`).
MODEL_SIGNALS = (
    "model_answer_in_sentence",
    "model_in_sentence",
    "pointer_agrees",
    "pointer_support",
    "pointer_numbers_ok",
    "abstained",
)


def model_extremes() -> list[dict[str, float]]:
    """The corners of what the model's signals can be, over every answer it could write. Each
    lies in [0, 1]; an answer that abstains is attributed to no sentence, so it has no pointer
    (as an answer that matches no sentence). A calibration's logit is linear in the signals, so
    over all answers it is lowest and highest at one of these."""
    out = []
    for answer_words, own_words in itertools.product((0.0, 1.0), repeat=2):
        words = {"model_answer_in_sentence": answer_words, "model_in_sentence": own_words}
        out.append(
            {**words, "abstained": 1.0, "pointer_agrees": 0.0, "pointer_support": 0.0, "pointer_numbers_ok": 1.0}
        )
        for agrees, support, numbers_ok in itertools.product((0.0, 1.0), repeat=3):
            out.append(
                {
                    **words,
                    "abstained": 0.0,
                    "pointer_agrees": agrees,
                    "pointer_support": support,
                    "pointer_numbers_ok": numbers_ok,
                }
            )
    return out


def retrieval_standing(sources: Sequence, n_best: int, agree: Sequence[bool]) -> dict:
    """Where retrieval ranked the candidate's source (`sources[n_best - 1]`), when the sources came
    with retrieval scores (the pipeline, or a caller passing the retrieve table): its place in
    the table and its score against the other sources' (a z-score).

    A better-ranked source that states the same answer (`agree[i]`, evidence.agrees) stands for
    it: retrieval ranked the answer there too, and docs say one fact in several places."""
    source = sources[n_best - 1]
    scores = [s.score for s in sources if s.score is not None]
    if source.score is None or len(scores) < 2:
        return {}
    if source.rank is not None:
        voters = [s for s, a in zip(sources, agree) if a and s.score is not None and s.rank is not None]
        source = min([source, *voters], key=lambda s: s.rank)
    mean = sum(scores) / len(scores)
    sd = (sum((x - mean) ** 2 for x in scores) / len(scores)) ** 0.5
    return {"source_rank": source.rank, "source_score_z": (source.score - mean) / sd if sd > 1e-9 else 0.0}


@dataclass(frozen=True)
class Model:
    """One logistic regression over a set of signals: p = sigmoid(b + sum w * (x - mean) / scale)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def probability(self, x: Mapping[str, float]) -> float:
        z = self.intercept + sum(
            w * (x[f] - m) / (s or 1.0) for f, m, s, w in zip(self.features, self.mean, self.scale, self.coef)
        )
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))


@dataclass(frozen=True)
class Thresholds:
    answer: float  # at or above: "answer"
    likely: float  # at or above: "likely"; below: "not_found"


@dataclass(frozen=True)
class Calibration:
    """Fitted models (one per set of available signals, most complete first) and thresholds.

    The Space reads calibration.json once; `benchmarks/fit_confidence.py` writes it.
    """

    models: tuple[Model, ...]
    thresholds: Mapping[str, Thresholds]  # by model: the features its thresholds were chosen for
    info: Mapping[str, object]

    @classmethod
    def load(cls, path: str | Path = CALIBRATION_FILE) -> "Calibration":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        models, thresholds = [], {}
        for m in data["models"]:
            model = Model(
                tuple(m["features"]), tuple(m["mean"]), tuple(m["scale"]), tuple(m["coef"]), float(m["intercept"])
            )
            models.append(model)
            thresholds[m["name"]] = Thresholds(float(m["thresholds"]["answer"]), float(m["thresholds"]["likely"]))
        names = [m["name"] for m in data["models"]]
        return cls(
            tuple(models),
            {n: thresholds[n] for n in names},
            {k: v for k, v in data.items() if k != "models"} | {"names": names},
        )

    def model_for(self, x: Mapping[str, float]) -> tuple[str, Model]:
        """The most complete model whose signals are all present. Failing that (a calibration
        file older than the code), the last and leanest one, reading a missing signal at its
        mean, where it moves the probability neither way."""
        for name, model in zip(self.info["names"], self.models):
            if all(f in x for f in model.features):
                return name, model
        name, model = self.info["names"][-1], self.models[-1]
        missing = [f for f in model.features if f not in x]
        log.warning("calibration %s misses signals %s; they are read at their means", name, missing)
        return f"{name} (without {', '.join(missing)})", model

    def judge(self, x: Mapping[str, float]) -> tuple[str, float, str]:
        """(verdict, confidence, model name) for the signals `x`."""
        name, model = self.model_for(x)
        means = dict(zip(model.features, model.mean))
        p = model.probability({f: x.get(f, means[f]) for f in model.features})
        t = self.thresholds[name.split(" (")[0]]
        return decide(p, t), p, name

    def settled(self, x: Mapping[str, float]) -> tuple[str, float, str] | None:
        """(verdict, confidence, model name) when the verdict is the same whatever the model
        writes, else None: then the model need not be asked. `x` is read as `judge` reads it,
        with each of the model's signals set to every extreme it can take (`model_extremes`).
        The confidence is the bound on the verdict's side: the lowest any answer could make it,
        or for "not_found" the highest."""
        name, model = self.model_for(x)
        t = self.thresholds[name.split(" (")[0]]
        means = dict(zip(model.features, model.mean))
        base = {f: x.get(f, means[f]) for f in model.features}
        ps = [model.probability(base | {f: v for f, v in c.items() if f in base}) for c in model_extremes()]
        low, high = min(ps), max(ps)
        if decide(low, t) != decide(high, t):
            return None
        verdict = decide(low, t)
        return verdict, high if verdict == NOT_FOUND else low, name


_default: Calibration | None = None


def default_calibration() -> Calibration:
    """calibration.json beside this file, read once per process."""
    global _default
    if _default is None:
        _default = Calibration.load()
    return _default


def decide(confidence: float, t: Thresholds) -> str:
    if confidence >= t.answer:
        return ANSWER
    if confidence >= t.likely:
        return LIKELY
    return NOT_FOUND


def plain_reason(verdict: str, x: Mapping[str, float]) -> str:
    """Why the answer is hedged, in words a person reads (no word stems, no numbers to decode)."""
    if verdict == ANSWER:
        return ""
    why = []
    if x.get("abstained"):
        why.append("the model found no answer in the passages")
    elif "pointer_agrees" in x and not x["pointer_agrees"]:
        why.append("the model's answer points at another passage")
    if x.get("coverage", 1) < 0.5:
        why.append("the passage shares few words with the question")
    if x.get("type_asked") and not x.get("type_match"):
        why.append("the passage lacks the kind of answer asked for (a date, a number or a name)")
    if x.get("prose", 1) < 0.6:
        why.append("the best match looks like code or a table")
    if not why:
        why.append("the passages match the question only loosely")
    head = "Nothing in the passages matches the question well" if verdict == NOT_FOUND else "Not certain"
    return f"{head}: {'; '.join(why)}."

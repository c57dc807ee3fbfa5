"""`Reranker`: scores a table of passages against a query and returns the top rows."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

import numpy as np
from rag_contract.table import Table, clean, order_by_score, to_table

from .scorers import InputOrderScorer, ScorerChoice

SCORE_COLUMN = "rerank_score"
METHOD_COLUMN = "rerank_method"  # the scorer's label, for people
FALLBACK_COLUMN = "rerank_fallback"  # true when the cross-encoder did not score: for programs
# ai-blueprint clients sort by "rank": it holds the rerank score, so higher is better.
RANK_COLUMN = "rank"
ADDED = (RANK_COLUMN, SCORE_COLUMN, METHOD_COLUMN, FALLBACK_COLUMN)
RETRIEVAL_SCORE_COLUMN = "score"  # /retrieve's column: fused with scorers that read answers

_QUESTION_WORDS = frozenset(
    "what who whom whose which when where why how is are was were do does did can could should would "
    "will shall may might must has have had name list explain describe define tell give".split()
)
STATEMENT_NOTE = "input order: the query reads as a statement, and the answer cross-encoder ranks answers to questions"


def reads_as_question(query: str) -> bool:
    """A question mark, or a first word that opens a question or a request ("How ...", "List ...")."""
    words = re.findall(r"[a-z']+", query.lower())
    return "?" in query or (bool(words) and words[0] in _QUESTION_WORDS)


def fuse_with_retrieval(probabilities, retrieval) -> np.ndarray:
    """z(reader logit) + z(retrieval score): the reranker's view and retrieval's, each on its own scale.
    A list with no spread on one side leaves the other's order."""

    def z(xs: np.ndarray) -> np.ndarray:
        sd = float(xs.std())
        return (xs - xs.mean()) / sd if sd > 1e-9 else np.zeros_like(xs)

    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-6, 1 - 1e-6)
    return z(np.log(p / (1 - p))) + z(np.asarray(retrieval, dtype=np.float64))


def _retrieval_scores(table: Table) -> list[float] | None:
    """The rows' retrieval scores, or None unless every row has a finite number there."""
    if RETRIEVAL_SCORE_COLUMN not in table.headers:
        return None
    col = table.headers.index(RETRIEVAL_SCORE_COLUMN)
    try:
        values = [float(r[col]) for r in table.rows]
    except (TypeError, ValueError):
        return None
    return values if all(math.isfinite(v) for v in values) else None


@dataclass
class RerankResult:
    """The reranked rows (every input column, plus score and method) and what happened."""

    headers: list[str]
    rows: list[list]
    method: str
    reason: str
    input_rows: int
    dropped_empty: int
    duplicates: int
    seconds: float

    def report(self) -> dict:
        return {
            "method": self.method,
            "fallback": bool(self.reason),
            "fallback_reason": self.reason or None,
            "input_rows": self.input_rows,
            "dropped_empty": self.dropped_empty,
            "duplicates_collapsed": self.duplicates,
            "returned": len(self.rows),
            "seconds": round(self.seconds, 4),
        }


class Reranker:
    """Reranks passages with the chosen scorer.

    Usage:
        reranker = Reranker(load_scorer("cross-encoder/ms-marco-MiniLM-L6-v2"))
        result = reranker.run("what causes tides?", ["The moon...", "Volcanoes..."], top_n=1)

    Args:
        choice: the scorer that serves (or the refusal), from `load_scorer`.
    """

    def __init__(self, choice: ScorerChoice):
        self.choice = choice

    @property
    def method(self) -> str:
        return self.choice.label

    def run(self, query: str, documents, top_n: int | None = None) -> RerankResult:
        """Score every row of `documents` against `query`; return the best `top_n` (default: all)."""
        if self.choice.scorer is None:
            raise RuntimeError(self.choice.refused)
        start = time.perf_counter()
        raw = to_table(documents)
        table: Table = clean(raw)
        scores, method = self.score(query, table)
        order = order_by_score(scores)[:top_n]
        # Columns a previous rerank added are replaced, so reranking twice keeps one of each.
        headers = [h for h in table.headers if h not in ADDED]
        keep = [i for i, h in enumerate(table.headers) if h in headers]
        added = [method, bool(self.choice.reason)]
        rows = [[table.rows[i][j] for j in keep] + [round(float(scores[i]), 6)] * 2 + added for i in order]
        return RerankResult(
            headers=headers + list(ADDED),
            rows=rows,
            method=method,
            reason=self.choice.reason,
            input_rows=len(raw.rows),
            dropped_empty=table.dropped_empty,
            duplicates=table.duplicates,
            seconds=time.perf_counter() - start,
        )

    def score(self, query: str, table: Table) -> tuple[np.ndarray, str]:
        """(scores, method). The answer cross-encoder was trained on questions: it keeps the input
        order for a statement (on SciFact's claims its order lost 0.13 nDCG@10), and its logit is
        fused with the retrieval score when every row has one (BENCHMARKS.md, "Offline rerank")."""
        scorer = self.choice.scorer
        texts = table.texts()
        if getattr(scorer, "reads_answers", False) and not reads_as_question(query):
            return InputOrderScorer().score(query, texts), STATEMENT_NOTE
        scores = np.asarray(scorer.score(query, texts), dtype=np.float64)
        retrieval = _retrieval_scores(table) if getattr(scorer, "reads_answers", False) else None
        if retrieval is not None and len(texts) > 1:
            return fuse_with_retrieval(scores, retrieval), f"{self.method}, fused with the retrieval score"
        return scores, self.method

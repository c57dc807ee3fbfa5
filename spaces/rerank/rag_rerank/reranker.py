"""`Reranker`: scores a table of passages against a query and returns the top rows."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .scorers import ScorerChoice
from .table import Table, clean, order_by_score, to_table

SCORE_COLUMN = "rerank_score"
METHOD_COLUMN = "rerank_method"  # the scorer's label, for people
FALLBACK_COLUMN = "rerank_fallback"  # true when the cross-encoder did not score: for programs
# ai-blueprint clients sort by "rank": it holds the rerank score, so higher is better.
RANK_COLUMN = "rank"
ADDED = (RANK_COLUMN, SCORE_COLUMN, METHOD_COLUMN, FALLBACK_COLUMN)


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
        scores = self.choice.scorer.score(query, table.texts())
        order = order_by_score(scores)[:top_n]
        # Columns a previous rerank added are replaced, so reranking twice keeps one of each.
        headers = [h for h in table.headers if h not in ADDED]
        keep = [i for i, h in enumerate(table.headers) if h in headers]
        added = [self.method, bool(self.choice.reason)]
        rows = [[table.rows[i][j] for j in keep] + [round(float(scores[i]), 6)] * 2 + added for i in order]
        return RerankResult(
            headers=headers + list(ADDED),
            rows=rows,
            method=self.method,
            reason=self.choice.reason,
            input_rows=len(raw.rows),
            dropped_empty=table.dropped_empty,
            duplicates=table.duplicates,
            seconds=time.perf_counter() - start,
        )

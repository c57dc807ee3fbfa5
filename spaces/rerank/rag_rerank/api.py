"""The Space's public endpoint and UI helpers: input checks, then a call into `Reranker`."""

from __future__ import annotations

import logging

import gradio as gr
import pandas as pd
from rag_contract.table import TableError, to_table

from .config import Settings
from .reranker import SCORE_COLUMN, Reranker
from .scorers import load_scorer

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 10_000
MAX_TOP_N = 1000


def _label(i: int, text) -> str:
    text = " ".join(str(text).split())
    return f"#{i + 1} {text[:28]}{'…' if len(text) > 28 else ''}"


class RerankAPI:
    """The Rerank Space's endpoint over one scorer (one model per process)."""

    def __init__(self, settings: Settings | None = None, reranker: Reranker | None = None):
        self.settings = settings or Settings.from_env()
        s = self.settings
        self.reranker = reranker or Reranker(
            load_scorer(
                s.model,
                max_length=s.max_length,
                batch_size=s.batch_size,
                quantize=s.quantize,
                fallback_model=s.fallback_model,
            )
        )

    def status_markdown(self) -> str:
        choice = self.reranker.choice
        if choice.refused:
            return f"**Refusing to rerank.** {choice.refused}"
        if choice.reason and choice.scorer is not None and choice.scorer.method == "answer-reader":
            return (
                f"**Reranking with the project's answer cross-encoder (fallback).** {choice.summary} "
                "Scores are relevance probabilities from 0 to 1. The Status section below has the details."
            )
        if choice.reason:
            return (
                f"**Not reranking: passages keep the order they came in.** {choice.summary} "
                "Scores are then (n - position) / n, not relevance. The Status section below has the details."
            )
        return f"**Scorer: {choice.label}.** Scores are relevance probabilities from 0 to 1."

    def status(self) -> dict:
        """Which scorer serves this Space, and why.

        Returns:
            method (the label every /rerank row carries in rerank_method), model (the configured cross-encoder), fallback (true when the configured cross-encoder is not serving, also when the project's answer cross-encoder scores in its place; every row carries it in rerank_fallback), fallback_reason (why the cross-encoder is not serving, or null), refused (why reranking is refused, or null), and the limits on rows and query length.
        """
        choice = self.reranker.choice
        return {
            "method": choice.label,
            "model": self.settings.model,
            "fallback": bool(choice.reason),
            "fallback_reason": choice.reason or None,
            "refused": choice.refused or None,
            "max_rows": MAX_TOP_N,
            "max_query_chars": MAX_QUERY_CHARS,
        }

    def run(self, query: str, documents, top_n: int | None = None) -> tuple[pd.DataFrame, dict]:
        """Checks, then the reranked table and a report of what happened (for the UI)."""
        if not isinstance(query, str) or not query.strip():
            raise gr.Error("The query is empty. Give the question the passages should answer.")
        if len(query) > MAX_QUERY_CHARS:
            raise gr.Error(f"The query has {len(query):,} characters; the limit is {MAX_QUERY_CHARS:,}.")
        if top_n is not None and (
            isinstance(top_n, bool)
            or not isinstance(top_n, (int, float))
            or top_n != int(top_n)
            or not 1 <= int(top_n) <= MAX_TOP_N
        ):
            raise gr.Error(
                f"top_n must be a whole number from 1 to {MAX_TOP_N}, or left out for every row, but got {top_n!r}."
            )
        try:
            result = self.reranker.run(query.strip(), documents, None if top_n is None else int(top_n))
        except TableError as exc:
            raise gr.Error(str(exc)) from None
        except RuntimeError as exc:  # a refused checkpoint
            raise gr.Error(str(exc)) from None
        return pd.DataFrame(result.rows, columns=result.headers), result.report()

    def rerank(self, query: str, documents, top_n: int | None = None) -> pd.DataFrame:
        """Score passages against the query with a cross-encoder and return them best first.

        Args:
            query: the question the passages should answer.
            documents: the table from the retrieve Space, a {"headers": [...], "data": [[...]]} dict, a list of strings, or a list of dicts with a "text" key (at most 1000).
            top_n: how many rows to return (1 to 1000); leave it out to get every row back.

        Returns:
            One table, best first: every input column, plus rank (the rerank score, higher is better), rerank_score (the same score), rerank_method (which scorer scored, for people) and rerank_fallback (true when a fallback scored, for programs). Rows with empty text are dropped and duplicate texts collapsed to their first row. /status says why a fallback serves.
        """
        return self.run(query, documents, top_n)[0]

    def rerank_with_plots(self, query: str, documents, top_n: int | None = None):
        """UI handler: a table for people (positions, not the API's `rank` score), a one-line
        report, and before/after score charts whose axes start at zero."""
        table, report = self.run(query, documents, top_n)
        before = to_table(documents)
        texts = before.texts()
        col = before.headers.index("score") if "score" in before.headers else None
        before_scores = [float(r[col]) if col is not None else float(len(texts) - i) for i, r in enumerate(before.rows)]
        text_col = table.columns[before.text_col] if before.text_col < len(table.columns) else table.columns[0]
        index_of = {" ".join(str(t).split()).casefold(): i for i, t in reversed(list(enumerate(texts)))}
        was = [index_of.get(" ".join(str(t).split()).casefold(), 0) for t in table[text_col]]
        shown = pd.DataFrame(
            {
                "#": range(1, len(table) + 1),
                "passage": [" ".join(str(t).split()) for t in table[text_col]],
                "score": table[SCORE_COLUMN].astype(float).round(3),
                "was #": [i + 1 for i in was],
            }
        )
        before_df = pd.DataFrame({"passage": [_label(i, t) for i, t in enumerate(texts)], "score": before_scores})
        after_df = pd.DataFrame(
            {"passage": [_label(i, t) for i, t in zip(was, shown["passage"])], "score": shown["score"]}
        )
        return shown, report_sentence(report), _bars(before_df), _bars(after_df)


def _bars(df: pd.DataFrame) -> gr.BarPlot:
    top = max([float(x) for x in df["score"]] + [0.0])
    return gr.BarPlot(value=df, y_lim=[min(0.0, float(df["score"].min()) if len(df) else 0.0), top * 1.05 or 1.0])


def report_sentence(report: dict) -> str:
    """The call's report as a sentence a person reads."""
    n, kept = report["input_rows"], report["returned"]
    parts = [
        f"Scored {n} passage{'s' if n != 1 else ''} with {report['method']} in {report['seconds']:.2f} s; showing the best {kept}."
    ]
    if report["dropped_empty"]:
        parts.append(
            f"{report['dropped_empty']} empty row{'s were' if report['dropped_empty'] != 1 else ' was'} dropped."
        )
    if report["duplicates_collapsed"]:
        d = report["duplicates_collapsed"]
        parts.append(f"{d} repeated passage{'s were' if d != 1 else ' was'} collapsed into the first.")
    return " ".join(parts)

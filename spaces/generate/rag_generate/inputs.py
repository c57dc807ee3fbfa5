"""What the generate Space accepts: the documents table, the question and the sampling
settings, each checked with an error that says what to change."""

from __future__ import annotations

import gradio as gr
from rag_contract.table import TableError, clean, to_table

from .backends import Sampling
from .prompts import Source

MAX_QUERY_CHARS = 10_000
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."


class PromptTooLong(ValueError):
    """The request cannot fit the backend's context window; the caller must shorten it."""


def parse_sources(documents) -> list[Source]:
    """Sources from the documents table (see table.py: the same schema as the rerank Space's),
    best first, with empty rows dropped and repeated texts collapsed."""
    if documents is None or documents == "" or documents == []:
        return []
    try:
        table = clean(to_table(documents))
    except TableError as exc:
        raise gr.Error(str(exc)) from None
    index = {h.strip().lower(): i for i, h in reversed(list(enumerate(table.headers)))}

    def cell(row, *names) -> str:
        for name in names:
            if name in index and row[index[name]] not in (None, ""):
                return str(row[index[name]])
        return ""

    return [
        Source(
            text=str(row[table.text_col]),
            id=cell(row, "id", "doc_id") or str(i + 1),
            source=cell(row, "source"),
            title=cell(row, "title"),
            rank=i,
            score=_number(cell(row, "score")),
        )
        for i, row in enumerate(table.rows)
    ]


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def check_sampling(max_tokens, temperature, top_p, top_k, limit: int) -> Sampling:
    def number(name, v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise gr.Error(f"{name} must be a number, but got {v!r}.")
        return v

    max_tokens, temperature, top_p, top_k = (
        number(n, v)
        for n, v in (("max_tokens", max_tokens), ("temperature", temperature), ("top_p", top_p), ("top_k", top_k))
    )
    if max_tokens != int(max_tokens) or max_tokens < 1:
        raise gr.Error(f"max_tokens must be a whole number >= 1, but got {max_tokens}.")
    if max_tokens > limit:
        raise gr.Error(
            f"max_tokens={int(max_tokens)} does not fit the context window: at most {limit} tokens can be generated. Lower max_tokens."
        )
    if not 0 <= temperature <= 2:
        raise gr.Error(f"temperature must be between 0 and 2, but got {temperature}.")
    if not 0 < top_p <= 1:
        raise gr.Error(f"top_p must be in (0, 1], but got {top_p}.")
    if top_k < 0 or top_k != int(top_k):
        raise gr.Error(f"top_k must be a whole number >= 0 (0 disables it), but got {top_k}.")
    return Sampling(max_tokens=int(max_tokens), temperature=float(temperature), top_p=float(top_p), top_k=int(top_k))


def check_text(name: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise gr.Error(f"The {name} is empty. Type a question or an instruction.")
    if len(value) > MAX_QUERY_CHARS:
        raise gr.Error(f"The {name} has {len(value):,} characters; the limit is {MAX_QUERY_CHARS:,}.")
    return value.strip()

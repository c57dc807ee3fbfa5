"""The documents table: one schema for every Space that reads passages (rerank, generate).

Pure functions that turn every accepted `documents` form into one table. Accepted: the
retrieve Space's table, a {"headers", "data"} dict (what clients of the ai-blueprint augment
Space send), a pandas DataFrame, a list of strings, or a list of dicts with a `text` key.
Every input column is kept; the text is the first of TEXT_COLUMNS present. docs/api.md
describes it.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_DOCUMENTS = 1000
TEXT_COLUMNS = ("text", "content", "chunk", "document", "passage")


class TableError(ValueError):
    """The documents payload is not a usable table; the message says what was wrong."""


@dataclass
class Table:
    headers: list[str]
    rows: list[list]
    text_col: int
    dropped_empty: int = 0
    duplicates: int = 0

    def texts(self) -> list[str]:
        return [str(r[self.text_col]) for r in self.rows]


def _find_text_column(headers: list[str]) -> int:
    lowered = [str(h).strip().lower() for h in headers]
    for name in TEXT_COLUMNS:
        if name in lowered:
            return lowered.index(name)
    raise TableError(
        f"The documents table has no `text` column. Columns given: {headers}. Rename the column that holds the passages to `text`."
    )


def to_table(documents) -> Table:
    """Normalise `documents` into headers and rows, and locate the text column."""
    if documents is None:
        raise TableError(
            "No documents were given. Pass the table from /retrieve, a {'headers', 'data'} dict, or a list of strings."
        )
    if hasattr(documents, "to_dict") and hasattr(documents, "columns"):  # pandas DataFrame
        documents = {"headers": [str(c) for c in documents.columns], "data": documents.values.tolist()}
    if isinstance(documents, str):
        raise TableError('documents must be a table or a list, not a single string. Wrap it in a list: ["passage"].')
    if isinstance(documents, dict):
        if "headers" not in documents or "data" not in documents:
            raise TableError(
                f"A documents dict needs `headers` and `data` keys (a Gradio Dataframe payload); it has {sorted(documents)}."
            )
        headers, data = list(documents["headers"] or []), documents["data"] or []
        if not isinstance(data, list) or not all(isinstance(r, (list, tuple)) for r in data):
            raise TableError("documents['data'] must be a list of rows, each a list of cell values.")
        bad = [i for i, r in enumerate(data) if len(r) != len(headers)]
        if bad:
            raise TableError(
                f"Row {bad[0]} of documents has {len(data[bad[0]])} cells but there are {len(headers)} headers {headers}."
            )
        rows = [list(r) for r in data]
    elif isinstance(documents, (list, tuple)):
        if all(isinstance(d, str) for d in documents):
            headers, rows = ["text"], [[d] for d in documents]
        elif all(isinstance(d, dict) for d in documents):
            headers = []
            for d in documents:
                headers += [k for k in d if k not in headers]
            rows = [[d.get(h) for h in headers] for d in documents]
        else:
            kinds = ", ".join(sorted({_json_kind(d) for d in documents}))
            raise TableError(
                f"A documents list must hold only strings or only dicts with a `text` key; it holds {kinds}."
            )
    else:
        raise TableError(
            f"documents must be a table, a {{'headers', 'data'}} dict or a list, not {_json_kind(documents)}."
        )
    if len(rows) > MAX_DOCUMENTS:
        raise TableError(
            f"{len(rows)} documents is over the limit of {MAX_DOCUMENTS}. Send the top of your retrieval results, not all of them."
        )
    return Table(
        headers=[str(h) for h in headers], rows=rows, text_col=_find_text_column(headers) if rows or headers else 0
    )


def normalize(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def clean(table: Table) -> Table:
    """Drop rows with empty text, and collapse rows whose normalised text repeats.

    Collapsing keeps the first occurrence: duplicates score the same, and ties keep
    input order, so the first is the one that would rank higher.
    """
    seen: set[str] = set()
    keep, empty = [], 0
    for r in table.rows:
        text = r[table.text_col]
        if text is None or not str(text).strip():
            empty += 1
            continue
        key = normalize(text)
        if key not in seen:
            seen.add(key)
            keep.append(r)
    return Table(
        table.headers, keep, table.text_col, dropped_empty=empty, duplicates=len(table.rows) - empty - len(keep)
    )


def order_by_score(scores) -> list[int]:
    """Row indices by score, best first; ties keep input order (sorted() is stable)."""
    return sorted(range(len(scores)), key=lambda i: -float(scores[i]))


def _json_kind(value) -> str:
    """A value's kind as a caller sending JSON would name it."""
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "a dict"}.get(
        type(value), type(value).__name__
    )

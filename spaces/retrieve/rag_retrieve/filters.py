"""Metadata filters: a small documented grammar parsed into a chunk predicate.

    source=report.pdf            exact match, case-insensitive
    source!=draft.md             not equal
    title~climate                substring, case-insensitive
    source~guides/; title~intro  clauses joined by ';' must all hold

Fields: `source`, `title`, `doc_id`, `id`, or `meta.<key>` for a metadata key
(for example `meta.year=2020`). Values may be wrapped in double quotes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .documents import Chunk

FIELDS = ("source", "title", "doc_id", "id")
_CLAUSE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(!=|=|~)\s*(.*?)\s*$")


class FilterError(ValueError):
    """The filter expression does not parse; the message shows the grammar."""


def _field_value(chunk: Chunk, field: str) -> str:
    if field.startswith("meta."):
        return str(chunk.metadata.get(field[5:], ""))
    return str(getattr(chunk, field))


@dataclass(frozen=True)
class Clause:
    """One parsed condition; `value` is lower-cased, as matching ignores case."""

    field: str  # source, title, doc_id, id, or meta.<key>
    op: str  # "=", "!=" or "~"
    value: str


def parse_clauses(expr: str) -> list[Clause]:
    """Parse `expr` into its clauses (empty for an empty expression); raises FilterError."""
    if expr is None or not str(expr).strip():
        return []
    tests = []
    for clause in str(expr).split(";"):
        if not clause.strip():
            continue
        m = _CLAUSE.match(clause)
        if not m:
            raise FilterError(
                f"Cannot parse filter clause '{clause.strip()}'. Use field=value, field!=value or field~substring, "
                "joined by ';', for example: source=report.pdf; title~climate."
            )
        field, op, value = m.groups()
        if field not in FIELDS and not (field.startswith("meta.") and len(field) > 5):
            raise FilterError(f"Unknown filter field '{field}'. Use one of {', '.join(FIELDS)}, or meta.<key>.")
        if value[:1] in ("=", "~"):
            raise FilterError(
                f"Filter clause '{clause.strip()}' has a doubled operator; write {field}{op}{value[1:]!s} (quote a value that starts with '=')."
            )
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if not value:
            raise FilterError(f"Filter clause '{clause.strip()}' has no value after '{op}'.")
        tests.append(Clause(field, op, value.lower()))
    return tests


def field_value(chunk: Chunk, field: str) -> str:
    """The text a clause on `field` is matched against, lower-cased."""
    return _field_value(chunk, field).lower()


def predicate(clauses: list[Clause]) -> Callable[[Chunk], bool] | None:
    """A chunk predicate that holds when every clause does; None for no clauses."""
    if not clauses:
        return None

    def holds(chunk: Chunk) -> bool:
        for c in clauses:
            actual = field_value(chunk, c.field)
            if (
                c.op == "="
                and actual != c.value
                or c.op == "!="
                and actual == c.value
                or c.op == "~"
                and c.value not in actual
            ):
                return False
        return True

    return holds


def parse_filters(expr: str) -> Callable[[Chunk], bool] | None:
    """Parse `expr` into a predicate, or None when the expression is empty."""
    return predicate(parse_clauses(expr))

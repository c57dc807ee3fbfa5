"""`Passage`: a passage as the pipeline carries it from the rerank stage's table to the page.

Read from a table row once (`Passage.from_row`), sent to /answer as a document (`document`),
and numbered as the answer cites it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Passage:
    """A passage the answer was given, with the scores that chose it."""

    n: int
    id: str
    text: str
    source: str = ""
    title: str = ""
    retrieve_score: float | None = None
    rerank_score: float | None = None
    cited: bool = False
    page: str = ""  # the PDF page ("3", "3-4"), when the retrieve stage knows it
    section: str = ""  # the Markdown or HTML heading the passage sits under

    @classmethod
    def from_row(cls, i: int, row: dict) -> "Passage":
        """The `i`-th row (0-based, rank order) of a retrieve or rerank table, as a dict."""
        return cls(
            n=i + 1,
            id=str(row.get("id", i + 1)),
            text=str(row.get("text", "")),
            source=str(row.get("source") or ""),
            title=str(row.get("title") or ""),
            retrieve_score=row.get("score"),
            rerank_score=row.get("rerank_score"),
            page=str(row.get("page") or ""),
            section=str(row.get("section") or ""),
        )

    def document(self) -> dict:
        """What /answer reads of it. The retrieval score goes along: the generate stage's
        calibration reads where retrieval ranked the passage it quotes."""
        return {
            "id": self.id,
            "text": self.text,
            "source": self.source,
            "title": self.title,
            "score": self.retrieve_score,
        }

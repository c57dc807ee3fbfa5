"""Recursive chunking measured in the embedding model's own tokens.

`split_spans` is a pure function over a text and the character offsets at which its
tokens start, so it can be tested without a model. `TokenChunker` binds it to a
Hugging Face tokenizer and turns `Document`s into `Chunk`s.

A chunk ends at the coarsest boundary that keeps it full enough: a paragraph break,
else a sentence end, else a space, else a token boundary. The next chunk starts
`overlap` tokens before that end, at a word boundary, so context carries across.
"""

from __future__ import annotations

import bisect
import re
from typing import Sequence

from .documents import Chunk, Document

_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE = re.compile(r"(?<=[.!?;:])[\"')\]]*\s+|\n")
_WORD = re.compile(r"\s+")

# A chunk may end at a coarser boundary only if it is still at least this full.
_MIN_FILL = 0.5


def _boundaries(pattern: re.Pattern, text: str) -> list[int]:
    return [m.end() for m in pattern.finditer(text)]


def split_spans(
    text: str, token_starts: Sequence[int], max_tokens: int, overlap: int = 0, max_chars: int | None = None
) -> list[tuple[int, int]]:
    """Split `text` into (start, end) character spans of at most `max_tokens` tokens.

    Args:
        text: the text to split.
        token_starts: sorted character offsets where each token of `text` starts.
        max_tokens: the largest number of tokens in a span.
        overlap: how many tokens each span repeats from the end of the previous one.
        max_chars: the longest span in characters (default 12 per token): a tokenizer
            maps a very long word to one unknown token, which must not make a
            megabyte-long chunk.

    Spans are stripped of surrounding whitespace, tile every non-space character of
    the text, and a text that fits stays one span.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, but got {max_tokens}")
    if not 0 <= overlap < max_tokens:
        raise ValueError(f"overlap must be in [0, max_tokens), but got {overlap}")
    max_chars = max_chars or 12 * max_tokens
    n_tok = len(token_starts)
    if not text.strip():
        return []
    levels = [_boundaries(p, text) for p in (_PARAGRAPH, _SENTENCE, _WORD)]
    words = levels[-1]

    def tok_index(pos: int) -> int:  # tokens that start before pos
        return bisect.bisect_left(token_starts, pos)

    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        first = tok_index(start)
        # Ending at `limit` keeps at most max_tokens tokens and max_chars characters.
        limit = token_starts[first + max_tokens] if n_tok - first > max_tokens else len(text)
        limit = min(limit, start + max_chars)
        end = len(text) if limit >= len(text) else _best_end(levels, start, limit)
        s, e = _strip(text, start, end)
        if s < e:
            spans.append((s, e))
        if end >= len(text):
            return spans
        start = _next_start(token_starts, words, first, end, overlap)


def _next_start(token_starts: Sequence[int], words: list[int], first: int, end: int, overlap: int) -> int:
    """Where the chunk after one ending at `end` starts: `overlap` tokens back (never past the
    chunk's second token, so there is progress), then forward to the next word start."""
    back_tok = max(bisect.bisect_left(token_starts, end) - overlap, first + 1)
    back = token_starts[back_tok] if overlap and back_tok < len(token_starts) else end
    if back >= end:
        return end
    i = bisect.bisect_left(words, back)
    return words[i] if i < len(words) and words[i] < end else back


def _best_end(levels: list[list[int]], start: int, limit: int) -> int:
    """The coarsest boundary (paragraph, sentence, word) at or before `limit` that keeps the
    chunk at least _MIN_FILL full; else `limit` itself."""
    floor = start + int((limit - start) * _MIN_FILL)
    for bounds in levels:
        i = bisect.bisect_right(bounds, limit) - 1
        if i >= 0 and bounds[i] > floor:
            return bounds[i]
    return limit


def _strip(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


class TokenChunker:
    """Splits documents into chunks that the embedding model never truncates.

    Usage:
        chunker = TokenChunker(model.tokenizer, max_tokens=254)
        chunks = chunker.chunk(Document(id="a", text="...", source="a.txt", title="A"))

    Args:
        tokenizer: a Hugging Face (fast) tokenizer, the embedding model's own.
        max_tokens: the model's input limit, special tokens included.
        overlap: tokens shared by consecutive chunks of one document.
        max_title_tokens: longer titles are cut to this many tokens before embedding.
    """

    def __init__(self, tokenizer, *, max_tokens: int, overlap: int = 32, max_title_tokens: int = 48):
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.overlap = overlap
        self.max_title_tokens = max_title_tokens
        self._specials = len(tokenizer("", add_special_tokens=True)["input_ids"])
        if max_tokens - self._specials - max_title_tokens - 1 <= overlap:
            raise ValueError(
                f"max_tokens={max_tokens} leaves no room for text after the title and an overlap of {overlap}"
            )

    def _offsets(self, text: str) -> list[int]:
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [s for s, _ in enc["offset_mapping"]]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def _title(self, title: str) -> str:
        title = " ".join(title.split())
        starts = self._offsets(title)
        return title[: starts[self.max_title_tokens]].rstrip() if len(starts) > self.max_title_tokens else title

    def chunk(self, doc: Document) -> list[Chunk]:
        title = self._title(doc.title)
        # The title and a newline travel with every chunk into the model.
        budget = self.max_tokens - self._specials - (self.count_tokens(title) + 1 if title else 0)
        text = doc.text
        spans = split_spans(text, self._offsets(text), budget, min(self.overlap, budget // 4))
        if not spans and title:
            spans = [(0, 0)]  # a title-only document is still findable
        return [
            Chunk(
                id=f"{doc.id}#{i}",
                doc_id=doc.id,
                text=text[s:e],
                source=doc.source,
                title=title,
                position=i,
                start=s,
                end=e,
                metadata={**doc.metadata, **locate(doc, s, e)},
            )
            for i, (s, e) in enumerate(spans)
        ]


def locate(doc: Document, start: int, end: int) -> dict:
    """Where a reader finds the span [start, end) of `doc`: its PDF page ("3", or "3-4" across a
    page break) and the Markdown or HTML section it sits in (the last heading before its start,
    else the first inside it). Empty when the document has no pages or headings."""
    out: dict = {}
    if doc.pages:
        first = bisect.bisect_right(doc.pages, start) + doc.first_page - 1
        last = bisect.bisect_right(doc.pages, max(end - 1, start)) + doc.first_page - 1
        out["page"] = str(first) if last == first else f"{first}-{last}"
    if doc.sections:
        before = [h for at, h in doc.sections if at <= start]
        inside = [h for at, h in doc.sections if start < at < end]
        heading = before[-1] if before else (inside[0] if inside else "")
        if heading:
            out["section"] = heading
    return out

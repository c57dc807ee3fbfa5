"""How an answer reads on the chat page: pure functions from `Answer` and `Passage` to Markdown.

No Gradio here; `chat.py` lays out the page and `chat_handlers.py` calls these.
"""

from __future__ import annotations

import re

from .rag import Passage

_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|~])")


def plain(text: str) -> str:
    """Document text shown as text: one line, markdown characters escaped, so a passage holding
    code or headings cannot break the page."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()))


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 source', '2 sources'."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def sources_markdown(sources: list[Passage], *, highlight: dict[int, str] | None = None) -> str:
    """Source cards: the file, and a snippet cut at sentence boundaries around the sentence the
    answer quotes (highlighted), with the whole passage behind an expander."""
    if not sources:
        return "_No passages found. Add documents on the right._"
    highlight = highlight or {}
    lines = []
    for s in sorted(sources, key=lambda s: s.n):
        where = [plain(s.source or s.title or s.id)]
        unit = "slide" if s.source.lower().endswith(".pptx") else "page"  # a .pptx's pages are slides
        where += [f"{unit} {s.page}"] if s.page else []
        section = section_of(s.text, highlight.get(s.n, ""), s.section)
        where += [f"“{plain(section)}”"] if section else []
        head = f"**Source {s.n}** · {' · '.join(where)}" + (" · quoted in the answer" if s.cited else "")
        lines.append(f"{head}\n\n> {snippet(s.text, highlight.get(s.n, ''))}\n")
        if len(s.text) > 300:
            lines.append(f"<details><summary>Whole passage</summary>\n\n{plain(s.text)}\n\n</details>\n")
    return "\n".join(lines)


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
_MARKS = [
    (re.compile(r"(^|\s)#{1,6}\s+"), r"\1"),  # heading marks
    (re.compile(r"\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?"), " "),  # a table's |---|---| rule
    (re.compile(r"\s*\|\s*(\|\s*)*"), " · "),  # table cells
    (re.compile(r"\*\*|__|`"), ""),  # bold and code marks
]


def unmarked(text: str) -> str:
    """Passage text as a person reads it: Markdown heading, table and emphasis marks removed."""
    for pattern, repl in _MARKS:
        text = pattern.sub(repl, text)
    return " ".join(text.split()).strip(" ·")


def section_of(text: str, sentence: str, known: str) -> str:
    """The heading the quoted `sentence` sits under: the last Markdown heading before it in the
    passage, else the section the retrieve Space recorded for the passage."""
    key = " ".join(sentence.split())[:60]
    flat = " ".join(text.split())
    at = flat.find(key) if key else -1
    if at > 0:
        before = [m.group(1) for m in _HEADING.finditer(text) if flat.find(" ".join(m.group(0).split())) < at]
        if before:
            return before[-1]
    return known


def snippet(text: str, sentence: str = "", *, around: int = 1, limit: int = 60) -> str:
    """The sentence the answer quotes with `around` sentences either side, cut at sentence
    boundaries and marked; without one, the passage's first sentences up to about `limit` words."""
    sents = [x for x in _SENTENCE.split(unmarked(str(text))) if x]
    key = unmarked(sentence).rstrip(" …").split(" … ")[0][:60]
    at = next((i for i, x in enumerate(sents) if key and key in x), None)
    if at is None:
        out, words = [], 0
        for x in sents:
            if out and words + len(x.split()) > limit:
                break
            out.append(plain(x))
            words += len(x.split())
        return " ".join(out) + (" …" if len(out) < len(sents) else "")
    lo, hi = max(at - around, 0), min(at + around + 1, len(sents))
    parts = [f"<mark>{plain(x)}</mark>" if i == at else plain(x) for i, x in enumerate(sents[lo:hi], start=lo)]
    return ("… " if lo > 0 else "") + " ".join(parts) + (" …" if hi < len(sents) else "")


_OUR_CITATION_END = re.compile(r" \[(\d+)\]\.$")
_OUR_CITATION_START = re.compile(r"^The best match in your documents \[(\d+)\]:")


def readable(text: str) -> str:
    """The answer with its citation written as "(source n)", so it cannot be taken for a
    document's own reference mark such as "[5]"."""
    text = _OUR_CITATION_END.sub(r" (source \1).", text)
    return _OUR_CITATION_START.sub(r"The best match in your documents (source \1):", text)


VERDICT_WORDS = {
    "answer": "Answer found in your documents",
    "likely": "Best match, not certain",
    "not_found": "Not found in your documents",
}


def verdict_line(answer) -> str:
    """The verdict in plain words, with how sure it is."""
    words = VERDICT_WORDS.get(answer.verdict, "")
    if not words:
        return ""
    sure = f" (confidence {round(100 * answer.confidence)} %)" if answer.confidence is not None else ""
    return f"**{words}**{sure}"


def details_markdown(answer) -> str:
    t = answer.timings
    server = t.get("generate_server") or {}
    parts = [verdict_line(answer)] if answer.verdict else []
    parts += [
        f"**Answered by:** `{answer.backend}` ({answer.report.backend_label}) · **reranker:** {answer.rerank_method}"
        f" · **evidence scored by:** {answer.report.evidence_scorer or 'n/a'}",
        f"**Timings (s):** retrieve {t.get('retrieve_s', 0):.2f} · rerank {t.get('rerank_s', 0):.2f} · generate {t.get('generate_s', 0):.2f}"
        f" · answer shown {t.get('ttft_s') or 0:.2f} · total {t.get('total_s', 0):.2f}" + _model_timing(server),
    ]
    if answer.topic:
        parts.append(f"**Follow-up:** searched with your earlier question and its document, “{answer.topic}”.")
    parts += [f"- {n}" for n in answer.notes]
    return "\n\n".join(parts)


def _model_timing(server: dict) -> str:
    if not server:
        return ""
    if server.get("first_token_s") is None:  # the verdict was settled before the model was asked
        return " (generate Space: the model was not asked)"
    return f" (generate Space: the model's first token {server['first_token_s']}, {server.get('decode_tok_s')} tok/s)"

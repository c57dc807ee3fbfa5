"""Pure functions for grounded prompts: numbered sources, token budgets, citations.

Token counts come from a `count` callable, the active backend's own tokenizer, so the
budget is exact for the model that will read the prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from rag_contract.messages import history_messages

Count = Callable[[str], int]

GROUNDED_SYSTEM_PROMPT = "Read the sources and answer the question in one short sentence. Use the words of the sources."

# A sentence ends at . ! ? and space, at a blank line, or before a list item, heading or table
# row. A single newline inside a paragraph is only a hard wrap, not a boundary.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n\s*\n|\n(?=\s*(?:[-*+] |\d+\. |#|\||```))")
# A period after an abbreviation or an initial ("the U.S. Army", "Dr. Smith", "J. R. R. Tolkien")
# does not end a sentence: cut there, the reader would see "the U.S." as one sentence and the fact
# after it as another. (A lower-case next word is no sign: informal text starts sentences so.)
_ABBREVIATION = re.compile(
    r"(?:^|[\s(\[\"'])(?:[A-Z]|[A-Z]\.[A-Z]|[A-Z]\.[A-Z]\.[A-Z]|Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|Gen|Gov|Sen|Rep|Lt|Col"
    r"|Capt|Sgt|Mt|Ft|No|Nos|Vol|Fig|Figs|Inc|Ltd|Co|Corp|vs|approx|ca|e\.g|i\.e|cf|al)\.$"
)
_CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


@dataclass(frozen=True)
class Source:
    """A passage the answer may use."""

    text: str
    id: str = ""
    source: str = ""
    title: str = ""
    rank: int = 0  # its place in the documents table as given (0: first, the best-ranked)
    score: float | None = None  # the retrieval score from the table's `score` column, when it has one


@dataclass
class Trim:
    """What the budget did to the sources."""

    budget_tokens: int
    used_tokens: int = 0
    kept: list[int] = field(default_factory=list)  # original positions of sources kept (whole or cut)
    cut: list[int] = field(default_factory=list)  # kept, but only some of their sentences
    dropped: list[int] = field(default_factory=list)

    def report(self) -> dict:
        return {
            "budget_tokens": self.budget_tokens,
            "used_tokens": self.used_tokens,
            "kept": len(self.kept),
            "cut": len(self.cut),
            "dropped": len(self.dropped),
        }


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, each keeping its trailing space, so ''.join() gives the text back."""
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if _not_an_end(text, m):
            continue
        out.append(text[start : m.end()])
        start = m.end()
    if start < len(text):
        out.append(text[start:])
    return [s for s in out if s.strip()]


def _not_an_end(text: str, m: re.Match) -> bool:
    if not m.group().isspace() or text[m.start() - 1] != ".":  # a blank line, a list item, ! or ?
        return False
    return bool(_ABBREVIATION.search(text[max(0, m.start() - 12) : m.start()]))


def source_text(text: str) -> str:
    """A source as the prompt shows it: its text on one line. Budgets count exactly this."""
    return " ".join(text.split())


def fit_sources(sources: Sequence[Source], budget: int, count: Count) -> tuple[list[tuple[Source, str]], Trim]:
    """Keep sources in rank order until `budget` tokens are used.

    A source that does not fit whole keeps as many of its leading sentences as fit (it
    is dropped if not even one does), and every later source is dropped. Numbering
    follows the kept order, so [1] is always the best-ranked source that survived.
    Costs are of `source_text`, exactly what `user_message` puts in the prompt.
    """
    trim = Trim(budget_tokens=max(budget, 0))
    kept: list[tuple[Source, str]] = []
    full = False
    for pos, src in enumerate(sources):
        if full:
            trim.dropped.append(pos)
            continue
        left = trim.budget_tokens - trim.used_tokens
        cost = count(source_text(src.text))
        if cost <= left:
            kept.append((src, src.text))
            trim.kept.append(pos)
            trim.used_tokens += cost
            continue
        full = True  # whatever happens to this source, the budget is spent
        text = ""
        for sentence in split_sentences(src.text):
            if count(source_text(text + sentence)) > left:
                break
            text += sentence
        if text.strip():
            kept.append((src, text))
            trim.kept.append(pos)
            trim.cut.append(pos)
            trim.used_tokens += count(source_text(text))
        else:
            trim.dropped.append(pos)
    return kept, trim


Select = Callable[[Sequence[Source], int, Count], tuple[list[tuple[Source, str]], Trim]]


def user_message(query: str, kept: Sequence[tuple[Source, str]]) -> str:
    """The sources' text, best first, then the question. No [n] labels: SmolLM2-135M copied
    them less well than plain text (BENCHMARKS.md), and citations come from attribution."""
    blocks = "\n\n".join(source_text(t) for _, t in kept)
    return (
        f"Sources:\n{blocks}\n\nQuestion: {query.strip()}" if kept else f"Sources: none.\n\nQuestion: {query.strip()}"
    )


# Words that make a sentence lean on the one before it: an opening pronoun, or a time named by
# reference ("the same year", "that day").
_LEANS_BACK = re.compile(
    r"^(it|its|they|their|them|this|these|those|he|his|him|she|her)\b"
    r"|\b(the same|that|the following|the next|the previous) (year|day|month|decade|century|season)\b",
    re.I,
)


def leans_back(sentence: str) -> bool:
    """True when the sentence needs the one before it to be read: "It opened in 1887.", "... the same year"."""
    return bool(_LEANS_BACK.search(" ".join(sentence.split())))


def build_messages(
    query: str,
    sources: Sequence[Source],
    *,
    history=None,
    prompt_budget: int,
    count_messages: Callable[[list[dict]], int],
    count: Count,
    max_source_tokens: int | None = None,
    system_prompt: str = GROUNDED_SYSTEM_PROMPT,
    select: Select = fit_sources,
) -> tuple[list[dict], list[tuple[Source, str]], Trim, int]:
    """The chat messages for a grounded answer, within `prompt_budget` tokens.

    The system prompt and the question always stay; then the most recent history turns
    that fit; the sources get what is left (capped by `max_source_tokens`), chosen by
    `select(sources, budget, count)`: whole sources in rank order by default, or the best
    sentences (`grounding.select_evidence`). Returns the messages, the sources kept (with
    their possibly cut text), the trim report and the number of history messages kept.
    Raises ValueError if even the bare question does not fit.
    """
    base = [{"role": "system", "content": system_prompt}, {"role": "user", "content": user_message(query, [])}]
    base_cost = count_messages(base)
    if base_cost > prompt_budget:
        raise ValueError(
            f"The question alone needs {base_cost} tokens, over the {prompt_budget} left for the prompt. Shorten it, or lower max_tokens."
        )
    turns = history_messages(history)
    kept_turns: list[dict] = []
    i = len(turns)
    while i > 0:  # newest exchange first, whole exchanges only
        trial = turns[max(i - 2, 0) :]
        if count_messages(base[:1] + trial + base[1:]) > prompt_budget:
            break
        kept_turns, i = trial, max(i - 2, 0)
    left = prompt_budget - count_messages(base[:1] + kept_turns + base[1:])
    budget = min(left, max_source_tokens) if max_source_tokens is not None else left
    kept, trim = select(sources, budget, count)
    messages = base[:1] + kept_turns + [{"role": "user", "content": user_message(query, kept)}]
    # Chat templates add a few tokens around each message; give back sources until it fits.
    while count_messages(messages) > prompt_budget and kept:
        trim.dropped.insert(0, trim.kept.pop())
        kept.pop()
        messages[-1] = {"role": "user", "content": user_message(query, kept)}
    return messages, kept, trim, len(kept_turns)


def parse_citations(text: str, n_sources: int) -> list[int]:
    """The source numbers cited as [n] or [n, m] in `text`, in order of first use, valid ones only."""
    seen: list[int] = []
    for m in _CITATION.finditer(text):
        for part in m.group(1).split(","):
            n = int(part)
            if 1 <= n <= n_sources and n not in seen:
                seen.append(n)
    return seen

"""Follow-up questions: what a question that points back at the conversation ("When was it
built?") is searched with. Pure functions; `RAGPipeline._retrieve` does the searching."""

from __future__ import annotations

import re

from rag_contract.messages import user_turns

# Words that point back at something said before: a question holding one is a follow-up.
_REFERS_BACK = re.compile(
    r"\b(it|its|it's|itself|they|them|their|theirs|themselves|this|that|these|those|he|him|his|she|her|hers|there)\b",
    re.I,
)


_NOT_NAMES = frozenset(
    "what when who whom whose where why how which is are was were do does did can could will "
    "would should the a an in of on for to and or by with from at as i".split()
)


def names(text: str) -> str:
    """The capitalised words of `text` that are not question words: what it is about, usually."""
    return " ".join(
        w
        for w in re.findall(r"[A-Za-z][\w'-]*", text)
        if w[0].isupper() and w.lower() not in _NOT_NAMES and not _REFERS_BACK.fullmatch(w)
    )


def earlier_questions(question: str, history=None, *, max_turns: int = 3) -> list[str]:
    """The earlier questions a follow-up ("When was it built?") depends on, oldest first: back to
    the first that points back at nothing (it names its subject), at most `max_turns`. Empty for a
    self-contained question or no history, so a new conversation forgets the old one."""
    if not _REFERS_BACK.search(question):
        return []
    context: list[str] = []
    for earlier in reversed(user_turns(history)[-max_turns:]):
        context.insert(0, " ".join(earlier.split()))
        if not _REFERS_BACK.search(earlier):
            break
    return context


def topic(rows: list[dict]) -> str:
    """The title of the best passage found for the earlier questions: the document the conversation
    is about, which a person reads on the first answer's source card, and what "it" usually means."""
    return " ".join(str(rows[0].get("title") or "").split()) if rows else ""


def search_queries(question: str, history=None, *, about: str = "", max_turns: int = 3) -> list[str]:
    """What retrieval searches with: the question alone, and for a follow-up two more, each with
    the conversation's subject: the question with the subject, and the earlier questions it
    depends on (`earlier_questions`) with it. The subject is `about` (the `topic` of the earlier
    questions' passages) when known, else the names in the earlier questions.

    The rankings are fused (`fuse_rankings`): the question alone keeps its say, because a
    follow-up may also change the subject.
    """
    question = " ".join(question.split())
    context = earlier_questions(question, history, max_turns=max_turns)
    if not context:
        return [question]
    subject = about or names(" ".join(context))
    with_subject = f"{question} {subject}" if subject else question
    queries = [question, with_subject, " ".join(context + [question, about]).strip()]
    return list(dict.fromkeys(queries))

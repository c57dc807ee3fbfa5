"""Chat messages as clients send them: plain strings, or Gradio 6's lists of content parts; and a
conversation's history, as [[user, assistant], ...] pairs or [{"role", "content"}, ...] messages."""

from __future__ import annotations


def message_text(content) -> str:
    """A chat message's text: a string as it is, or the text parts of Gradio 6's list of content
    parts (`[{"type": "text", "text": ...}]`, what a Chatbot holds); files and other parts are skipped."""
    if isinstance(content, str):
        return content
    parts = [content] if isinstance(content, dict) else content if isinstance(content, (list, tuple)) else []
    return " ".join(
        p["text"]
        for p in parts
        if isinstance(p, dict) and p.get("type", "text") == "text" and isinstance(p.get("text"), str)
    ).strip()


def history_messages(history) -> list[dict]:
    """Accept [[user, assistant], ...] pairs or [{"role", "content"}, ...] messages (content as a
    string or as a Chatbot's content parts); empty turns are dropped. Anything else is a ValueError
    that says which shapes are accepted."""
    out: list[dict] = []
    for turn in history or []:
        if isinstance(turn, dict) and turn.get("role") in ("user", "assistant"):
            pairs = [(turn["role"], turn.get("content"))]
        elif isinstance(turn, (list, tuple)) and len(turn) == 2:
            pairs = list(zip(("user", "assistant"), turn))
        else:
            raise ValueError("history must be a list of [user, assistant] pairs or of {'role', 'content'} messages.")
        out += [{"role": role, "content": text} for role, text in ((r, message_text(c)) for r, c in pairs) if text]
    return out


def user_turns(history) -> list[str]:
    """The user's earlier messages, oldest first."""
    return [m["content"] for m in history_messages(history) if m["role"] == "user"]


def exchanges(history) -> list[list[str]]:
    """[[question, answer], ...]: each user message followed by the assistant's reply; a message
    without its reply (a question still being answered) is left out."""
    turns = history_messages(history)
    return [
        [a["content"], b["content"]]
        for a, b in zip(turns, turns[1:])
        if a["role"] == "user" and b["role"] == "assistant"
    ]

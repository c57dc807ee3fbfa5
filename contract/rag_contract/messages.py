"""Chat messages as clients send them: plain strings, or Gradio 6's lists of content parts."""

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

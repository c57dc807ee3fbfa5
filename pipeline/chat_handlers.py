"""What the chat page does when a person acts: ask, list, upload, delete.

A class over a `RAGPipeline`, testable without a page or a server: each method takes the
components' values and returns (or yields) theirs. `chat.py` lays out the page and wires these
to its events; `render.py` turns answers into Markdown.
"""

from __future__ import annotations

import gradio as gr
from rag_contract.messages import exchanges

from .clients import StageError
from .rag import Answer, RAGPipeline
from .render import details_markdown, plural, readable, sources_markdown

UPLOADS_OFF = (
    "Uploads are off: this page has no write token for the retrieve Space. `python -m pipeline up` "
    "creates one for the session; or set RETRIEVE_WRITE_TOKEN for both."
)


def _bot(content: str) -> dict:
    return {"role": "assistant", "content": content}


def _finished(answer: Answer) -> tuple[dict, str, str]:
    """The chat message, the source cards (the quoted sentence marked in each cited one) and the details."""
    quoted = answer.report.quoted
    marks = {c.n: quoted for c in answer.report.citations} if answer.verdict != "not_found" else {}
    message = _bot(readable(answer.text) or "(empty answer)")
    return message, sources_markdown(answer.sources, highlight=marks), details_markdown(answer)


def check_whole(name: str, value, top: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or not 1 <= value <= top:
        raise gr.Error(f"{name} must be a whole number from 1 to {top}, but got {value!r}.")
    return int(value)


class ChatHandlers:
    """The chat page's handlers over one pipeline.

    Args:
        pipeline: the three stages to compose (remote or in process).
        write_token: the retrieve Space's write token. It stays in this process and never reaches
            the page; without it, upload and delete say how to enable them.
    """

    def __init__(self, pipeline: RAGPipeline, *, write_token: str | None = None):
        self.pipeline, self.write_token = pipeline, write_token

    def respond(self, message: str, history: list, k_retrieve: int, k_rerank: int, max_tokens: int):
        """Yield (chat history, question box, source cards, details) as the answer arrives."""
        history = list(history or [])
        if not message or not message.strip():
            yield history, "", "", ""
            return
        earlier = exchanges(history)  # for follow-up questions
        history += [{"role": "user", "content": message}, _bot("_Searching your documents…_")]
        sources_md, details = "", ""
        yield history, "", sources_md, details
        try:
            for event, value in self.pipeline.stream(
                message, int(k_retrieve), int(k_rerank), history=earlier, temperature=0.0, max_tokens=int(max_tokens)
            ):
                if event == "sources":
                    sources_md = sources_markdown(value)
                    reading = (
                        f"_Reading {plural(len(value), 'passage')}…_" if value else "_Nothing found; answering anyway…_"
                    )
                    history[-1] = _bot(reading)
                elif event == "done":
                    history[-1], sources_md, details = _finished(value)
                yield history, "", sources_md, details
        except (StageError, ValueError) as exc:
            history[-1] = _bot(f"⚠️ {exc}")
            yield history, "", sources_md, "_The request failed; see the message in the chat._"

    def ask(self, question: str, k_retrieve: int = 20, k_rerank: int = 5) -> dict:
        """Answer a question from the indexed documents, with numbered sources (retrieve, rerank, then a grounded answer).

        Args:
            question: the question, in plain words.
            k_retrieve: how many passages to retrieve (1 to 100).
            k_rerank: how many of them, after reranking, the model reads (1 to 20).

        Returns:
            answer (text citing sources as [n]), verdict ("answer": the cited sentence answers it; "likely": the best match, hedged; "not_found": the documents do not seem to answer it, and nothing is quoted), confidence (0..1, calibrated), supported (true exactly for "answer"), sources (n, source, text, cited), backend (the model that answered) and notes (any degraded stage).
        """
        if not isinstance(question, str) or not question.strip():
            raise gr.Error("The question is empty. Ask something about the indexed documents.")
        k_retrieve, k_rerank = check_whole("k_retrieve", k_retrieve, 100), check_whole("k_rerank", k_rerank, 20)
        try:
            a = self.pipeline.ask(question.strip(), k_retrieve, k_rerank)
        except (StageError, ValueError) as exc:
            raise gr.Error(str(exc)) from None
        return {
            "answer": a.text,
            "verdict": a.verdict,
            "confidence": a.confidence,
            "supported": a.supported,
            "sources": [
                {"n": s.n, "source": s.source or s.id, "text": s.text, "cited": s.cited}
                for s in sorted(a.sources, key=lambda s: s.n)
            ],
            "backend": a.report.backend_label or a.backend,
            "notes": a.notes,
        }

    def list_sources(self):
        """(the indexed table, the delete dropdown, a one-line summary)."""
        try:
            listed = self.pipeline.documents()
        except StageError as exc:
            return gr.update(value=None), gr.update(choices=[], value=None), f"⚠️ {exc}"
        rows = [[r["source"], r["documents"], r["chunks"]] for r in listed]
        summary = (
            f"**{plural(len(rows), 'source')} indexed**, {plural(sum(r[2] for r in rows), 'passage')}."
            if rows
            else "_Nothing is indexed yet: upload a file to start._"
        )
        return rows, gr.update(choices=[r[0] for r in rows], value=None), summary

    def upload(self, files, progress=gr.Progress()):
        """(report, the emptied file box, then `list_sources`' three)."""
        if not self.write_token:
            raise gr.Error(UPLOADS_OFF)
        paths = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in (files or [])]
        if not paths:
            raise gr.Error("Choose at least one .txt, .md, .pdf, .html, .jsonl or .zip file first.")
        progress(0.0, desc="Uploading")
        try:
            report = self.pipeline.add_documents(
                paths, self.write_token, progress=lambda frac, desc: progress(frac, desc=desc)
            )
        except StageError as exc:
            raise gr.Error(str(exc)) from None
        return (report, None, *self.list_sources())

    def delete(self, source):
        """(report, then `list_sources`' three)."""
        if not self.write_token:
            raise gr.Error(UPLOADS_OFF)
        if not source:
            raise gr.Error("Choose the source to delete from the list first.")
        try:
            report = self.pipeline.delete_source(source, self.write_token)
        except StageError as exc:
            raise gr.Error(str(exc)) from None
        return (report, *self.list_sources())

    def asker(self, question: str):
        """A handler that asks `question` at once, as if typed and sent (the example buttons)."""

        def ask_it(history, k_retrieve, k_rerank, max_tokens):
            yield from self.respond(question, history, k_retrieve, k_rerank, max_tokens)

        return ask_it

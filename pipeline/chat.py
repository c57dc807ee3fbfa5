"""The pipeline's own chat UI: streaming answers with sources, backend and timings."""

from __future__ import annotations

import re

import gradio as gr
from rag_contract.messages import message_text

from .clients import StageError
from .rag import Passage, RAGPipeline

UPLOAD_TYPES = [".txt", ".md", ".pdf", ".html", ".htm", ".jsonl", ".docx", ".pptx", ".xlsx", ".zip"]
# Questions the bundled corpus (docs/faq.md) answers; shown when `make run` serves it.
BUNDLED_EXAMPLES = [
    "What happens if ingestion crashes halfway?",
    "Which files can I upload?",
    "What happens when the cross-encoder cannot load?",
]


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
        f"**Answered by:** `{answer.backend}` ({answer.info.get('backend_label', '')}) · **reranker:** {answer.rerank_method}"
        f" · **evidence scored by:** {answer.info.get('evidence_scorer', 'n/a')}",
        f"**Timings (s):** retrieve {t.get('retrieve_s', 0):.2f} · rerank {t.get('rerank_s', 0):.2f} · generate {t.get('generate_s', 0):.2f}"
        f" · first token {t.get('ttft_s') or 0:.2f} · total {t.get('total_s', 0):.2f}"
        + (
            f" (generate Space: first token {server.get('ttft_s')}, {server.get('decode_tok_s')} tok/s)"
            if server
            else ""
        ),
    ]
    if answer.topic:
        parts.append(f"**Follow-up:** searched with your earlier question and its document, “{answer.topic}”.")
    parts += [f"- {n}" for n in answer.notes]
    return "\n\n".join(parts)


def build_chat_app(
    pipeline: RAGPipeline, *, write_token: str | None = None, examples: list[str] | None = None
) -> gr.Blocks:
    """The chat page: ask questions, and add or remove the documents they are answered from.

    Args:
        pipeline: the three stages to compose.
        write_token: the retrieve Space's write token. It stays in this process and never reaches
            the page; without it, the upload and delete controls say how to enable them.
        examples: example questions shown under the question box.
    """

    def respond(message: str, history: list, k_retrieve: int, k_rerank: int, max_tokens: int):
        history = list(history or [])
        if not message or not message.strip():
            yield history, "", "", ""
            return
        pairs = []  # earlier exchanges, for follow-up questions
        for i in range(0, len(history) - 1, 2):
            if history[i].get("role") == "user" and history[i + 1].get("role") == "assistant":
                pairs.append([message_text(history[i]["content"]), message_text(history[i + 1]["content"])])
        history = history + [
            {"role": "user", "content": message},
            {"role": "assistant", "content": "_Searching your documents…_"},
        ]
        sources_md, details = "", ""
        yield history, "", sources_md, details
        try:
            for event, value in pipeline.stream(
                message, int(k_retrieve), int(k_rerank), history=pairs, temperature=0.0, max_tokens=int(max_tokens)
            ):
                if event == "sources":
                    sources_md = sources_markdown(value)
                    history[-1] = {
                        "role": "assistant",
                        "content": f"_Reading {plural(len(value), 'passage')}…_"
                        if value
                        else "_Nothing found; answering anyway…_",
                    }
                elif event == "delta":
                    if not value:
                        continue  # the sources are announced before any text: keep the "…"
                    history[-1] = {"role": "assistant", "content": readable(value)}
                else:
                    history[-1] = {"role": "assistant", "content": readable(value.text) or "(empty answer)"}
                    quoted = (value.info.get("grounding") or {}).get("candidate") or ""
                    marks = (
                        {c["n"]: quoted for c in value.info.get("citations", [])}
                        if value.verdict != "not_found"
                        else {}
                    )
                    sources_md, details = sources_markdown(value.sources, highlight=marks), details_markdown(value)
                yield history, "", sources_md, details
        except (StageError, ValueError) as exc:
            history[-1] = {"role": "assistant", "content": f"⚠️ {exc}"}
            yield history, "", sources_md, "_The request failed; see the message in the chat._"

    def ask(question: str, k_retrieve: int = 20, k_rerank: int = 5) -> dict:
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
        for name, value, top in (("k_retrieve", k_retrieve, 100), ("k_rerank", k_rerank, 20)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or value != int(value)
                or not 1 <= value <= top
            ):
                raise gr.Error(f"{name} must be a whole number from 1 to {top}, but got {value!r}.")
        try:
            a = pipeline.ask(question.strip(), int(k_retrieve), int(k_rerank))
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
            "backend": a.info.get("backend_label") or a.backend,
            "notes": a.notes,
        }

    def list_sources():
        try:
            listed = pipeline.documents()
        except StageError as exc:
            return gr.update(value=None), gr.update(choices=[], value=None), f"⚠️ {exc}"
        rows = [[r["source"], r["documents"], r["chunks"]] for r in listed]
        summary = (
            f"**{plural(len(rows), 'source')} indexed**, {plural(sum(r[2] for r in rows), 'passage')}."
            if rows
            else "_Nothing is indexed yet: upload a file to start._"
        )
        return rows, gr.update(choices=[r[0] for r in rows], value=None), summary

    def upload(files, progress=gr.Progress()):
        if not write_token:
            raise gr.Error(UPLOADS_OFF)
        paths = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in (files or [])]
        if not paths:
            raise gr.Error("Choose at least one .txt, .md, .pdf, .html, .jsonl or .zip file first.")
        progress(0.0, desc="Uploading")
        try:
            report = pipeline.add_documents(paths, write_token, progress=lambda frac, desc: progress(frac, desc=desc))
        except StageError as exc:
            raise gr.Error(str(exc)) from None
        return (report, None, *list_sources())

    def delete(source):
        if not write_token:
            raise gr.Error(UPLOADS_OFF)
        if not source:
            raise gr.Error("Choose the source to delete from the list first.")
        try:
            report = pipeline.delete_source(source, write_token)
        except StageError as exc:
            raise gr.Error(str(exc)) from None
        return (report, *list_sources())

    with gr.Blocks(title="RAG chat") as app:
        gr.Markdown(
            "# Ask your documents\nAdd files on the right, then ask a question. Answers quote your documents and name the source they come from."
        )
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Chat", value=[], height=360)
                with gr.Row():
                    box = gr.Textbox(
                        label="Question",
                        placeholder="Ask something about your documents",
                        scale=5,
                        show_label=False,
                        submit_btn=False,
                    )
                    send = gr.Button("Send", variant="primary", scale=1, min_width=80)
                example_buttons = []
                if examples:
                    with gr.Row():
                        gr.Markdown("Try:")
                        example_buttons = [(q, gr.Button(q, size="sm", variant="secondary")) for q in examples]
                # The answer's sources right under it, above the fold at 1400x900; settings last.
                sources = gr.Markdown(label="Sources")
                with gr.Accordion("How this answer was made", open=False):
                    details = gr.Markdown("_Ask a question to see which model answered, and how long each step took._")
                clear = gr.Button("New conversation")
                with gr.Accordion("Settings", open=False):
                    k_retrieve = gr.Slider(1, 100, value=20, step=1, label="k_retrieve (passages retrieved)")
                    k_rerank = gr.Slider(1, 20, value=5, step=1, label="k_rerank (passages given to the model)")
                    max_tokens = gr.Slider(16, 1024, value=256, step=16, label="max tokens")
            with gr.Column(scale=2):
                gr.Markdown("### Your documents")
                summary = gr.Markdown()
                files = gr.File(
                    label="Add files (.txt, .md, .pdf, .html, .jsonl, .zip)",
                    file_count="multiple",
                    file_types=UPLOAD_TYPES,
                    interactive=bool(write_token),
                    elem_id="upload",
                )
                add = gr.Button("Add to the index", variant="primary", interactive=bool(write_token))
                report = gr.Textbox(
                    label="Report", lines=3, value="" if write_token else UPLOADS_OFF, interactive=False
                )
                indexed = gr.Dataframe(
                    headers=["source", "documents", "chunks"], label="Indexed", interactive=False, wrap=True
                )
                with gr.Row():
                    chosen = gr.Dropdown(label="Source to delete", choices=[], scale=3)
                    remove = gr.Button("Delete", variant="stop", scale=1, interactive=bool(write_token))
        # The handler stays callable (api_name /chat) but undocumented, so `ask` is the one MCP tool.
        box.submit(
            respond,
            [box, chatbot, k_retrieve, k_rerank, max_tokens],
            [chatbot, box, sources, details],
            api_name="chat",
            api_visibility="undocumented",
        )
        send.click(
            respond,
            [box, chatbot, k_retrieve, k_rerank, max_tokens],
            [chatbot, box, sources, details],
            api_visibility="private",
        )
        for question, button in example_buttons:  # an example asks at once, as if typed and sent
            button.click(
                _asker(respond, question),
                [chatbot, k_retrieve, k_rerank, max_tokens],
                [chatbot, box, sources, details],
                api_visibility="private",
            )
        with gr.Row(visible=False):
            ask_question, ask_k_retrieve, ask_k_rerank = gr.Textbox(), gr.Number(value=20), gr.Number(value=5)
            ask_answer, ask_button = gr.JSON(), gr.Button()
        ask_button.click(ask, [ask_question, ask_k_retrieve, ask_k_rerank], ask_answer, api_name="ask")
        clear.click(lambda: ([], "", "", ""), None, [chatbot, box, sources, details], api_visibility="private")
        add.click(
            upload,
            [files],
            [report, files, indexed, chosen, summary],
            api_visibility="private",
            concurrency_limit=1,
            show_progress_on=report,
        )
        remove.click(
            delete,
            [chosen],
            [report, indexed, chosen, summary],
            api_visibility="private",
            concurrency_limit=1,
            show_progress_on=report,
        )
        app.load(list_sources, None, [indexed, chosen, summary], api_visibility="private")
    return app


def _asker(respond, question: str):
    def ask_it(history, k_retrieve, k_rerank, max_tokens):
        yield from respond(question, history, k_retrieve, k_rerank, max_tokens)

    return ask_it


# For browser automation (the browser tier, docs/make_screenshots.py): true once the page shows a
# finished answer to a question asked after `before` questions, past the progress states above.
ANSWERED_JS = """(before) => {
    const users = document.querySelectorAll('.message.user, [data-testid="user"]');
    const bots = [...document.querySelectorAll('.message.bot, [data-testid="bot"]')].map(m => m.innerText);
    return users.length > before && bots.length && bots.every(t => t && !t.includes('Searching your documents') && !t.includes('Reading '));
}"""


UPLOADS_OFF = (
    "Uploads are off: this page has no write token for the retrieve Space. `python -m pipeline up` "
    "creates one for the session; or set RETRIEVE_WRITE_TOKEN for both."
)

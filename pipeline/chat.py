"""The pipeline's own chat page: its layout, wired to `ChatHandlers`.

The page lays out components and connects events, nothing else: what happens on an event is in
`chat_handlers.py`, and how an answer reads (source cards, details) in `render.py`.
"""

from __future__ import annotations

import gradio as gr

from .chat_handlers import UPLOADS_OFF, ChatHandlers
from .rag import RAGPipeline

UPLOAD_TYPES = [".txt", ".md", ".pdf", ".html", ".htm", ".jsonl", ".docx", ".pptx", ".xlsx", ".zip"]
# Questions the bundled corpus (docs/faq.md) answers; shown when `make run` serves it.
BUNDLED_EXAMPLES = [
    "What happens if ingestion crashes halfway?",
    "Which files can I upload?",
    "What happens when the cross-encoder cannot load?",
]


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
    handlers = ChatHandlers(pipeline, write_token=write_token)
    with gr.Blocks(title="RAG chat") as app:
        gr.Markdown(
            "# Ask your documents\nAdd files on the right, then ask a question. Answers quote your documents and name the source they come from."
        )
        with gr.Row():
            with gr.Column(scale=3):
                _chat_column(handlers, examples or [])
            with gr.Column(scale=2):
                docs = _documents_column(bool(write_token))
        _wire_documents(handlers, docs)
        app.load(handlers.list_sources, None, docs[2:5], api_name="page_sources", api_visibility="private")
    return app


def _chat_column(handlers: ChatHandlers, examples: list[str]) -> None:
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
    shown = [chatbot, box, sources, details]
    # The handler stays callable (api_name /chat) but undocumented, so `ask` is the one MCP tool.
    box.submit(
        handlers.respond,
        [box, chatbot, k_retrieve, k_rerank, max_tokens],
        shown,
        api_name="chat",
        api_visibility="undocumented",
    )
    send.click(
        handlers.respond,
        [box, chatbot, k_retrieve, k_rerank, max_tokens],
        shown,
        api_name="send",
        api_visibility="private",
    )
    for question, button in example_buttons:  # an example asks at once, as if typed and sent
        button.click(
            handlers.asker(question), [chatbot, k_retrieve, k_rerank, max_tokens], shown, api_visibility="private"
        )
    clear.click(lambda: ([], "", "", ""), None, shown, api_name="clear", api_visibility="private")
    with gr.Row(visible=False):
        ask_question, ask_k_retrieve, ask_k_rerank = gr.Textbox(), gr.Number(value=20), gr.Number(value=5)
        ask_answer, ask_button = gr.JSON(), gr.Button()
    ask_button.click(handlers.ask, [ask_question, ask_k_retrieve, ask_k_rerank], ask_answer, api_name="ask")


def _documents_column(writable: bool) -> tuple:
    """(files, add, indexed, chosen, summary, report, remove)."""
    gr.Markdown("### Your documents")
    summary = gr.Markdown()
    files = gr.File(
        label="Add files (.txt, .md, .pdf, .html, .jsonl, .zip)",
        file_count="multiple",
        file_types=UPLOAD_TYPES,
        interactive=writable,
        elem_id="upload",
    )
    add = gr.Button("Add to the index", variant="primary", interactive=writable)
    report = gr.Textbox(label="Report", lines=3, value="" if writable else UPLOADS_OFF, interactive=False)
    indexed = gr.Dataframe(headers=["source", "documents", "chunks"], label="Indexed", interactive=False, wrap=True)
    with gr.Row():
        chosen = gr.Dropdown(label="Source to delete", choices=[], scale=3)
        remove = gr.Button("Delete", variant="stop", scale=1, interactive=writable)
    return files, add, indexed, chosen, summary, report, remove


def _wire_documents(handlers: ChatHandlers, docs: tuple) -> None:
    files, add, indexed, chosen, summary, report, remove = docs
    add.click(
        handlers.upload,
        [files],
        [report, files, indexed, chosen, summary],
        api_name="upload",
        api_visibility="private",
        concurrency_limit=1,
        show_progress_on=report,
    )
    remove.click(
        handlers.delete,
        [chosen],
        [report, indexed, chosen, summary],
        api_name="delete",
        api_visibility="private",
        concurrency_limit=1,
        show_progress_on=report,
    )


# For browser automation (the browser tier, docs/make_screenshots.py): true once the page shows a
# finished answer to a question asked after `before` questions, past the progress states above.
ANSWERED_JS = """(before) => {
    const users = document.querySelectorAll('.message.user, [data-testid="user"]');
    const bots = [...document.querySelectorAll('.message.bot, [data-testid="bot"]')].map(m => m.innerText);
    return users.length > before && bots.length && bots.every(t => t && !t.includes('Searching your documents') && !t.includes('Reading '));
}"""

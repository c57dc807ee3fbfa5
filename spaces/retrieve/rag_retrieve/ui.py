"""The retrieve Space's page and its API endpoints, laid out over a `RetrieveAPI`.

`app.py` builds it for the Space alone; the one-Space suite (spaces/suite) renders the same
page as a tab, so the endpoints keep their `api_name`s wherever the stage runs.
"""

from __future__ import annotations

import gradio as gr

from .api import COLUMNS, RetrieveAPI
from .index import MODES


def build_demo(api: RetrieveAPI, status: str) -> gr.Blocks:
    """The page: search, the hidden API twins, uploads and index stats. `status` is `api.start()`'s report."""
    with gr.Blocks(title="Retrieve") as demo:
        gr.Markdown("# Retrieve\nHybrid search over your documents: sentence-transformers embeddings and BM25, fused.")
        header = gr.Markdown(api.header())
        _search(api)
        _documents(api, header)
        stats, listed = _stats(api)
        gr.Markdown(f"<small>At start-up: {status}</small>")
        demo.load(api.header, None, header, api_visibility="private")
        demo.load(api.stats, None, stats, api_visibility="private")
        demo.load(api.list_sources, None, listed, api_visibility="private")
    return demo


def _search(api: RetrieveAPI) -> None:
    with gr.Row():
        query = gr.Textbox(label="Query", placeholder="Ask something about the indexed documents", scale=4)
        k = gr.Number(label="k (1-1000)", value=5, precision=0, scale=1)
        mode = gr.Dropdown(list(MODES), value="hybrid", label="Mode", scale=1)
    filters = gr.Textbox(label="Filters (optional)", value="", placeholder="source=report.pdf; title~climate")
    search = gr.Button("Search", variant="primary")
    shown = gr.Dataframe(
        label="Results, best first",
        headers=["#", "passage", "from", "score"],
        column_widths=["6%", "64%", "20%", "10%"],
        wrap=True,
    )
    people = [query, k, mode, filters]
    search.click(api.retrieve_for_people, people, shown, api_visibility="private")
    query.submit(api.retrieve_for_people, people, shown, api_visibility="private")

    # The API's table (every column: id, text, source, score, ..., page, section) comes from hidden
    # twins: /retrieve, and /similarity_search for ai-blueprint clients.
    with gr.Row(visible=False):
        results = gr.Dataframe(headers=COLUMNS)
        api_button, alias = gr.Button(), gr.Button()
    api_button.click(api.retrieve, [query, k, mode, filters], results, api_name="retrieve")
    alias.click(api.similarity_search, [query, k], results, api_name="similarity_search")


def _documents(api: RetrieveAPI, header: gr.Markdown) -> None:
    with gr.Accordion("Add documents", open=False):
        files = gr.File(
            label="Files (.txt, .md, .pdf, .html, .jsonl, .docx, .pptx, .xlsx, or a .zip of them)",
            file_count="multiple",
        )
        token = gr.Textbox(label="Write token", type="password")
        add = gr.Button("Add to index")
        add_report = gr.Textbox(label="Report", lines=4)
        add.click(api.add_documents, [files, token], add_report, api_name="add_documents", concurrency_limit=1).then(
            api.header, None, header, api_visibility="private"
        )
        source = gr.Textbox(label="Delete a source (as shown in the source column)")
        delete = gr.Button("Delete source")
        delete.click(
            api.delete_source, [source, token], add_report, api_name="delete_source", concurrency_limit=1
        ).then(api.header, None, header, api_visibility="private")


def _stats(api: RetrieveAPI) -> tuple[gr.JSON, gr.Dataframe]:
    with gr.Accordion("Index stats", open=False):
        stats = gr.JSON()
        listed = gr.Dataframe(label="Sources", headers=["source", "documents", "chunks"])
        refresh = gr.Button("Refresh")
        refresh.click(api.stats, None, stats, api_name="stats")
        refresh.click(api.list_sources, None, listed, api_name="list_sources")
    return stats, listed

"""The rerank Space's page and its API endpoints, laid out over a `RerankAPI`.

`app.py` builds it for the Space alone; the one-Space suite (spaces/suite) renders the same
page as a tab, with `status_api="rerank_status"` because the generate stage has a /status too.
"""

from __future__ import annotations

import gradio as gr
import pandas as pd
from rag_contract.components import any_json

from .api import RerankAPI

EXAMPLE = pd.DataFrame(
    {
        "id": ["a", "b", "c"],
        "text": [
            "Volcanoes erupt when magma rises through the crust.",
            "Tides are caused by the gravitational pull of the moon and the sun.",
            "The moon orbits the Earth about once a month.",
        ],
        "score": [0.9, 0.8, 0.7],
    }
)


def build_demo(api: RerankAPI, *, status_api: str = "status") -> gr.Blocks:
    """The page: a query, an editable table, the reranked table and two bar plots; /rerank and /status."""
    with gr.Blocks(title="Rerank") as demo:
        gr.Markdown("# Rerank\nScore each passage against the query with a cross-encoder and keep the best.")
        gr.Markdown(api.status_markdown())
        _people(api)
        # API twins with their own hidden inputs, so the schema shows the API's defaults, not the
        # demo's: query and documents are required, top_n defaults to every row. documents is JSON,
        # so a table payload, a list of strings and a list of dicts all reach the function as sent.
        # The output is the API's own table: every input column, plus rank, rerank_score,
        # rerank_method and rerank_fallback.
        with gr.Row(visible=False):
            api_query, api_documents, api_top_n = gr.Textbox(), any_json(), gr.Number()
            api_button, status_button = gr.Button(), gr.Button()
            results = gr.Dataframe()
        api_button.click(api.rerank, [api_query, api_documents, api_top_n], results, api_name="rerank")
        with gr.Accordion("Status", open=False):
            status = gr.JSON()
            status_button.click(api.status, None, status, api_name=status_api)
        demo.load(api.status, None, status, api_name=f"{status_api}_on_load", api_visibility="private")
    return demo


def _people(api: RerankAPI) -> None:
    """The part a person uses: the table in, the reranked table, a sentence and two plots out."""
    with gr.Row():
        query = gr.Textbox(label="Query", value="What causes tides?", scale=4)
        top_n = gr.Number(label="top_n (empty: all rows)", value=5, precision=0, scale=1)
    documents = gr.Dataframe(
        value=EXAMPLE, label="Documents (edit freely; needs a text column)", interactive=True, wrap=True
    )
    run = gr.Button("Rerank", variant="primary")
    shown = gr.Dataframe(
        label="Reranked, best first (# is the new position, was # the old one)",
        headers=["#", "passage", "score", "was #"],
        column_widths=["8%", "68%", "12%", "12%"],
        wrap=True,
    )
    report = gr.Markdown()
    with gr.Row():
        before = gr.BarPlot(x="passage", y="score", title="Before: retrieval score (input order)", x_label_angle=-30)
        after = gr.BarPlot(x="passage", y="score", title="After: rerank score", sort="-y", x_label_angle=-30)
    run.click(
        api.rerank_with_plots, [query, documents, top_n], [shown, report, before, after], api_visibility="private"
    )

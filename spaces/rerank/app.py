"""Rerank Space: cross-encoder reranking of retrieved passages.

Run `python app.py` from this folder. Settings come from the environment; see
rag_rerank/config.py or the README.
"""

import logging

import gradio as gr
import pandas as pd
from rag_rerank.api import RerankAPI

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

api = RerankAPI()

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


def any_json(**kwargs) -> gr.JSON:
    """A JSON input whose API schema is valid JSON Schema: gr.JSON declares `"type": {}`, which
    MCP clients reject; no type at all means any JSON value. (An instance override, because a
    gr.JSON subclass makes Gradio write an app.pyi beside this file.)"""
    component = gr.JSON(**kwargs)
    component.api_info = lambda: {"description": "any valid JSON"}
    return component


with gr.Blocks(title="Rerank") as demo:
    gr.Markdown("# Rerank\nScore each passage against the query with a cross-encoder and keep the best.")
    gr.Markdown(api.status_markdown())
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
    # The API's own table (every input column, plus rank, rerank_score, rerank_method and
    # rerank_fallback) is the output of the hidden /rerank twin below.
    results = gr.Dataframe(visible=False)
    run.click(
        api.rerank_with_plots, [query, documents, top_n], [shown, report, before, after], api_visibility="private"
    )
    # API twins with their own hidden inputs, so the schema shows the API's defaults, not the
    # demo's: query and documents are required, top_n defaults to every row. documents is JSON,
    # so a table payload, a list of strings and a list of dicts all reach the function as sent.
    with gr.Row(visible=False):
        api_query, api_documents, api_top_n = gr.Textbox(), any_json(), gr.Number()
        api_button, status_button = gr.Button(), gr.Button()
    api_button.click(api.rerank, [api_query, api_documents, api_top_n], results, api_name="rerank")
    with gr.Accordion("Status", open=False):
        status = gr.JSON()
        status_button.click(api.status, None, status, api_name="status")
    demo.load(api.status, None, status, api_visibility="private")

if __name__ == "__main__":
    # mcp_server: every public endpoint is also an MCP tool at /gradio_api/mcp/ (streamable HTTP).
    demo.queue(default_concurrency_limit=2, max_size=64).launch(show_error=True, mcp_server=True)

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

with gr.Blocks(title="Rerank") as demo:
    gr.Markdown("# Rerank\nScore each passage against the query with a cross-encoder and keep the best.")
    gr.Markdown(api.status())
    with gr.Row():
        query = gr.Textbox(label="Query", value="What causes tides?", scale=4)
        top_n = gr.Number(label="top_n", value=5, precision=0, scale=1)
    documents = gr.Dataframe(value=EXAMPLE, label="Documents (edit freely; needs a text column)", interactive=True, wrap=True)
    run = gr.Button("Rerank", variant="primary")
    results = gr.Dataframe(label="Reranked", wrap=True)
    report = gr.JSON(label="Report")
    with gr.Row():
        before = gr.BarPlot(x="passage", y="score", title="Before: retrieval score (input order)", x_label_angle=-30)
        after = gr.BarPlot(x="passage", y="score", title="After: rerank score", sort="-y", x_label_angle=-30)
    run.click(api.rerank_with_plots, [query, documents, top_n], [results, report, before, after], api_visibility="private")
    # The API endpoint takes documents as JSON, so a table payload, a list of strings and
    # a list of dicts all reach the function as sent. It returns the table and the report.
    documents_json = gr.JSON(visible=False)
    api_button = gr.Button(visible=False)
    api_button.click(api.rerank, [query, documents_json, top_n], [results, report], api_name="rerank")

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=2, max_size=64).launch(show_error=True)

"""The generate Space's page and its API endpoints, laid out over a `GenerateAPI`.

`app.py` builds it for the Space alone; the one-Space suite (spaces/suite) renders the same
page as a tab, with `status_api="generate_status"` because the rerank stage has a /status too.
"""

from __future__ import annotations

import gradio as gr
from rag_contract.components import any_json

from .api import DEFAULT_SYSTEM_PROMPT, GenerateAPI

EXAMPLE_SOURCES = [
    {"id": "tides", "text": "Tides are caused by the gravitational pull of the moon and the sun on the oceans."},
    {"id": "moon", "text": "The moon orbits the Earth about once every 27 days."},
]


def build_demo(api: GenerateAPI, status: str, *, status_api: str = "status") -> gr.Blocks:
    """The page: free generation, answers with sources, status; /generate, /answer and /status.
    `status` is `api.start()`'s report."""
    with gr.Blocks(title="Generate") as demo:
        gr.Markdown(
            "# Generate\nSmolLM2 on CPU through llama-cpp. Falls back to the Inference API, then to an extractive answer."
        )
        gr.Markdown(status)
        with gr.Tab("Generate"):
            output = _generate_tab(api)
        with gr.Tab("Answer with sources"):
            answer, info = _answer_tab(api)
        with gr.Tab("Status"):
            backends = gr.JSON()
            gr.Button("Check backends").click(api.status, None, backends, api_name=status_api)
        demo.load(
            api.status, None, backends, api_name=f"{status_api}_on_load", api_visibility="private"
        )  # filled when the page opens, not "{…}"
        _api_twins(api, output, answer, info)
    return demo


def _generate_tab(api: GenerateAPI) -> gr.Textbox:
    system_prompt = gr.Textbox(label="System prompt", value=DEFAULT_SYSTEM_PROMPT)
    user_prompt = gr.Textbox(label="Prompt", lines=3, placeholder="Write a haiku about retrieval.")
    with gr.Accordion("Generation settings", open=False):
        max_tokens = gr.Slider(1, 2048, value=256, step=1, label="max_tokens")
        temperature = gr.Slider(0.0, 2.0, value=0.7, step=0.05, label="temperature")
        top_p = gr.Slider(0.01, 1.0, value=0.95, step=0.01, label="top_p")
        top_k = gr.Slider(0, 200, value=40, step=1, label="top_k")
    run = gr.Button("Generate", variant="primary")
    output = gr.Textbox(label="Output", lines=8)
    badge = gr.Markdown()
    inputs = [user_prompt, system_prompt, max_tokens, temperature, top_p, top_k]
    run.click(
        api.generate_with_backend,
        inputs,
        [output, badge],
        api_name="generate_ui",
        api_visibility="private",
        concurrency_id="llm",
        concurrency_limit=1,
    )
    return output


def _answer_tab(api: GenerateAPI) -> tuple[gr.Textbox, gr.JSON]:
    query = gr.Textbox(label="Question", value="What causes tides?")
    passages = gr.Textbox(
        label="Sources, best first: paste passages, with a blank line between two",
        value="\n\n".join(s["text"] for s in EXAMPLE_SOURCES),
        lines=8,
    )
    with gr.Accordion("Generation settings", open=False):
        a_max_tokens = gr.Slider(1, 1024, value=api.settings.max_tokens, step=1, label="max_tokens")
    ask = gr.Button("Answer", variant="primary")
    answer = gr.Textbox(label="Answer", lines=4)
    with gr.Accordion("How this answer was made: backend, verdict, sources, timings", open=False):
        info = gr.JSON(show_label=False)
    ask.click(
        api.answer_from_text,
        [query, passages, a_max_tokens],
        [answer, info],
        api_visibility="private",
        concurrency_id="llm",
        concurrency_limit=1,
    )
    return answer, info


def _api_twins(api: GenerateAPI, output: gr.Textbox, answer: gr.Textbox, info: gr.JSON) -> None:
    """/generate and /answer with their own hidden, unbounded inputs: the API schema then shows
    each endpoint's documented defaults (not the demo's), and out-of-range values reach the
    endpoint's own checks, which name the parameter and the range."""
    with gr.Row(visible=False):
        g_user, g_system = gr.Textbox(), gr.Textbox(value=DEFAULT_SYSTEM_PROMPT)
        g_sampling = [gr.Number(value=256), gr.Number(value=0.7), gr.Number(value=0.95), gr.Number(value=40)]
        a_query, a_documents, a_history = gr.Textbox(), any_json(), any_json(value=[])
        # max_tokens left empty means GENERATE_MAX_TOKENS.
        a_sampling = [gr.Number(), gr.Number(value=0.2), gr.Number(value=0.95), gr.Number(value=40)]
        api_button = gr.Button()
    # Plain text only, so ai-blueprint generate clients work unchanged.
    api_button.click(
        api.generate,
        [g_user, g_system, *g_sampling],
        output,
        api_name="generate",
        concurrency_id="llm",
        concurrency_limit=1,
    )
    api_button.click(
        api.answer,
        [a_query, a_documents, a_history, *a_sampling],
        [answer, info],
        api_name="answer",
        concurrency_id="llm",
        concurrency_limit=1,
    )

"""The whole suite as one Space: the chat page, and the retrieve, rerank and generate stages in
this one process, each stage's page as a tab.

For accounts that can host one Space, not four. Every stage's endpoints keep their `api_name`s,
so gradio_client and ai-blueprint callers pointed here work as against the stage's own Space;
the one rename is rerank's `/status`, here `/rerank_status` (generate's keeps `/status`). The
chat page's questions reach the stages in process (pipeline.stages.InProcessStage): no HTTP
between them, and MiniLM and the answer cross-encoder are loaded once (rag_contract.shared_models).

Run `python app.py` from this folder; `python -m pipeline deploy --one-space` publishes it.
Settings are each stage's own (RETRIEVE_*, RERANK_*, GENERATE_*; see the README), plus
RETRIEVE_WRITE_TOKEN for uploads and PIPELINE_API_KEY for the OpenAI routes at /v1.
"""

import logging

import gradio as gr
from rag_generate.api import GenerateAPI
from rag_generate.ui import build_demo as generate_page
from rag_rerank.api import RerankAPI
from rag_rerank.ui import build_demo as rerank_page
from rag_retrieve.api import RetrieveAPI
from rag_retrieve.ui import build_demo as retrieve_page

# On a Space, `pipeline` sits beside this file; in a checkout, `make install` installs it.
from pipeline import RAGPipeline
from pipeline.chat import build_chat_app
from pipeline.config import Settings
from pipeline.server import chat_server_app
from pipeline.stages import in_process

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

settings = Settings.from_env()
retrieve, rerank, generate = RetrieveAPI(), RerankAPI(), GenerateAPI()
retrieve_status, generate_status = retrieve.start(), generate.start()
rag = RAGPipeline(**in_process(retrieve, rerank, generate))

# Each page is built on its own, then rendered once into its tab (a Blocks built inside another
# Blocks' context is already placed there, and would be laid out twice).
pages = {
    "Chat": build_chat_app(rag, write_token=settings.write_token or None),
    "Retrieve": retrieve_page(retrieve, retrieve_status),
    "Rerank": rerank_page(rerank, status_api="rerank_status"),
    "Generate": generate_page(generate, generate_status),
}
with gr.Blocks(title="Ask your documents") as demo:
    for name, page in pages.items():
        with gr.Tab(name):
            page.render()

# The page at /, every endpoint's API and MCP tool at /gradio_api/, and OpenAI's chat API at /v1.
app = chat_server_app(rag, demo)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host=settings.server_name, port=settings.server_port)

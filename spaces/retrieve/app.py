"""Retrieve Space: hybrid (dense + BM25) search over your documents.

Run `python app.py` from this folder. Settings come from the environment; see
rag_retrieve/config.py or the README.
"""

import logging

from rag_retrieve.api import RetrieveAPI
from rag_retrieve.ui import build_demo

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

api = RetrieveAPI()
status = api.start()

demo = build_demo(api, status)

if __name__ == "__main__":
    # mcp_server: every public endpoint is also an MCP tool at /gradio_api/mcp/ (streamable HTTP).
    # Gradio refuses a larger upload before it reaches the handler.
    demo.queue(default_concurrency_limit=4, max_size=64).launch(
        show_error=True, mcp_server=True, max_file_size=api.settings.max_file_bytes
    )

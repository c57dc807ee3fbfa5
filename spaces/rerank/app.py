"""Rerank Space: cross-encoder reranking of retrieved passages.

Run `python app.py` from this folder. Settings come from the environment; see
rag_rerank/config.py or the README.
"""

import logging

from rag_rerank.api import RerankAPI
from rag_rerank.ui import build_demo

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

api = RerankAPI()

demo = build_demo(api)

if __name__ == "__main__":
    # mcp_server: every public endpoint is also an MCP tool at /gradio_api/mcp/ (streamable HTTP).
    demo.queue(default_concurrency_limit=2, max_size=64).launch(show_error=True, mcp_server=True)

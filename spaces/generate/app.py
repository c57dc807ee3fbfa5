"""Generate Space: SmolLM2 GGUF on CPU through llama-cpp, with an Inference API and an
extractive fallback. Grounded answers cite their numbered sources.

Run `python app.py` from this folder. Settings come from the environment; see
rag_generate/config.py or the README.
"""

import logging

from rag_generate.api import GenerateAPI
from rag_generate.ui import build_demo

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

api = GenerateAPI()
status = api.start()

demo = build_demo(api, status)

if __name__ == "__main__":
    # mcp_server: every public endpoint is also an MCP tool at /gradio_api/mcp/ (streamable HTTP).
    # A bounded queue: past it, a call is refused at once ("busy") instead of waiting out its timeout.
    demo.queue(max_size=api.settings.queue_size).launch(show_error=True, mcp_server=True)

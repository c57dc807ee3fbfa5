"""Chat Space: ask your documents, through the retrieve, rerank and generate Spaces.

Run `python app.py` from this folder. The stages are found through PIPELINE_RETRIEVE_URL,
PIPELINE_RERANK_URL and PIPELINE_GENERATE_URL (URLs or Space ids); uploads from the page
need RETRIEVE_WRITE_TOKEN, the retrieve Space's write token, as a secret of this Space.
`python -m pipeline deploy` uploads the `pipeline` package beside this file and sets all four.
"""

import os

# On a Space, `pipeline` sits beside this file; in a checkout, `make install` installs it.
from pipeline import RAGPipeline
from pipeline.chat import build_chat_app

demo = build_chat_app(RAGPipeline(), write_token=os.environ.get("RETRIEVE_WRITE_TOKEN") or None)

if __name__ == "__main__":
    # mcp_server: `ask` is also an MCP tool at /gradio_api/mcp/.
    demo.queue(default_concurrency_limit=4).launch(show_error=True, mcp_server=True)

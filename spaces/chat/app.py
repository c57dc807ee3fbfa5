"""Chat Space: ask your documents, through the retrieve, rerank and generate Spaces.

Run `python app.py` from this folder. The stages are found through PIPELINE_RETRIEVE_URL,
PIPELINE_RERANK_URL and PIPELINE_GENERATE_URL (URLs or Space ids); uploads from the page
need RETRIEVE_WRITE_TOKEN, the retrieve Space's write token, as a secret of this Space.
`python -m pipeline deploy` uploads the `pipeline` package beside this file and sets all four.
The same server answers OpenAI's chat API at /v1 (PIPELINE_API_KEY guards it; see docs/api.md).
"""

import os

# On a Space, `pipeline` sits beside this file; in a checkout, `make install` installs it.
from pipeline import RAGPipeline
from pipeline.chat import build_chat_app
from pipeline.server import chat_server_app

rag = RAGPipeline()
demo = build_chat_app(rag, write_token=os.environ.get("RETRIEVE_WRITE_TOKEN") or None)
# The page at /, its MCP tool (`ask`) at /gradio_api/mcp/, and OpenAI's chat API at /v1.
app = chat_server_app(rag, demo)

if __name__ == "__main__":
    import uvicorn

    host = os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0")
    uvicorn.run(app, host=host, port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))

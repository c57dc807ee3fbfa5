"""Chat Space: ask your documents, through the retrieve, rerank and generate Spaces.

Run `python app.py` from this folder. The stages are found through PIPELINE_RETRIEVE_URL,
PIPELINE_RERANK_URL and PIPELINE_GENERATE_URL (URLs or Space ids); uploads from the page
need RETRIEVE_WRITE_TOKEN, the retrieve Space's write token, as a secret of this Space.
`python -m pipeline deploy` uploads the `pipeline` package beside this file and sets all four.
The same server answers OpenAI's chat API at /v1 (PIPELINE_API_KEY guards it; see docs/api.md).
"""

# On a Space, `pipeline` sits beside this file; in a checkout, `make install` installs it.
from pipeline import RAGPipeline
from pipeline.chat import build_chat_app
from pipeline.config import Settings
from pipeline.server import chat_server_app

settings = Settings.from_env()
rag = RAGPipeline()
demo = build_chat_app(rag, write_token=settings.write_token or None)
# The page at /, its MCP tool (`ask`) at /gradio_api/mcp/, and OpenAI's chat API at /v1.
app = chat_server_app(rag, demo)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host=settings.server_name, port=settings.server_port)

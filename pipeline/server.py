"""The chat server: one FastAPI app with the chat page (Gradio, mounted at /) and the
OpenAI-compatible routes beside it (/v1, `openai_api.py`), served by uvicorn.

`python -m pipeline up` runs it in a thread; the chat Space's app.py runs it in the foreground.
"""

from __future__ import annotations

import threading
import time

from .rag import RAGPipeline


def chat_server_app(rag: RAGPipeline, blocks, *, api_key: str | None = None):
    """The FastAPI app: /v1 routes first, then the Gradio page (and its API and MCP server) at /."""
    import gradio as gr
    from fastapi import FastAPI

    from .openai_api import with_openai_routes
    from .render import readable

    app = FastAPI(title="RAG pipeline", docs_url=None, redoc_url=None)
    with_openai_routes(app, rag, render=readable, api_key=api_key)
    blocks.queue(default_concurrency_limit=4)
    return gr.mount_gradio_app(app, blocks, path="/", mcp_server=True, show_error=True)


class ChatServer:
    """uvicorn serving `app` on a thread; `start()` returns once it answers, `stop()` ends it."""

    def __init__(self, app, *, host: str = "127.0.0.1", port: int = 7860):
        import uvicorn

        self.url = f"http://{host}:{port}/"
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, name="chat-server", daemon=True)

    def start(self, timeout: float = 60) -> "ChatServer":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the chat server did not start on {self.url} (is the port taken?)")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

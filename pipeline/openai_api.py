"""An OpenAI-compatible API on the chat server: `GET /v1/models`, `POST /v1/chat/completions`.

Clients that already speak OpenAI's chat API (the `openai` package, Open WebUI, LangChain's
`ChatOpenAI`, Gradio's `gr.load_chat`) ask the pipeline through it. The messages become a question
(the last user message) and its history (the earlier user/assistant pairs, retrieved with the
conversation as on the chat page); a system message is accepted and not used. The text reads as on
the chat page, with its "(source n)" marks. The sources travel as data, in the response and in the
last streamed chunk, in the fields Perplexity's OpenAI-compatible API uses (`citations`,
`search_results`) and in `sources`, with the page or section, the quoted sentence, the scores, the
`verdict` and its `confidence`. Errors come in OpenAI's shape, `{"error": {"message", "type", "code"}}`.

With PIPELINE_API_KEY set, every request needs `Authorization: Bearer <key>` (compared in constant
time; the key is never logged). The routes are added to the chat server's own FastAPI app, beside
the Gradio page (`with_openai_routes`), not run as a second server.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from itertools import chain
from typing import Iterator

from fastapi import Request  # at module level: FastAPI reads the handlers' annotations by name

from .clients import StageError
from .config import Settings
from .rag import Answer, RAGPipeline

log = logging.getLogger(__name__)

MODEL_ID = "rag-pipeline"
MAX_QUESTION_CHARS = 10_000


class APIError(Exception):
    """An error a client reads: HTTP status, OpenAI error type and code, and a message saying what to do."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status, self.type, self.code = status, type_, code

    def body(self) -> dict:
        return {"error": {"message": str(self), "type": self.type, "code": self.code, "param": None}}


@dataclass(frozen=True)
class ChatRequest:
    """A checked /v1/chat/completions request."""

    question: str
    history: list[list[str]]
    stream: bool
    model: str
    max_tokens: int | None = None


def _content(message: dict) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def parse_request(body: object) -> ChatRequest:
    """The question, its history and the options, or an APIError (400) that says what is wrong."""
    if not isinstance(body, dict):
        raise APIError(400, "The request body must be a JSON object with a `messages` list.", code="invalid_body")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "`messages` is missing or empty: send at least one user message.", code="empty_messages")
    turns = [(m.get("role"), _content(m).strip()) for m in messages if isinstance(m, dict)]
    users = [i for i, (role, text) in enumerate(turns) if role == "user" and text]
    if not users:
        raise APIError(
            400, "There is no user message with text: the last user message is the question.", code="no_user"
        )
    question = turns[users[-1]][1]
    if len(question) > MAX_QUESTION_CHARS:
        raise APIError(400, f"The question has {len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,}.")
    history, pending = [], None
    for role, text in turns[: users[-1]]:
        if role == "user":
            pending = text
        elif role == "assistant" and pending is not None:
            history.append([pending, text])
            pending = None
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise APIError(
            400, f"`max_tokens` must be a whole number of at least 1, but got {max_tokens!r}.", code="max_tokens"
        )
    return ChatRequest(question, history, bool(body.get("stream")), str(body.get("model") or MODEL_ID), max_tokens)


def check_key(header: str | None, key: str | None) -> None:
    """Raise APIError(401) unless `header` is `Bearer <key>`; nothing to check without a key."""
    if not key:
        return
    given = (header or "").removeprefix("Bearer ").strip() if (header or "").startswith("Bearer ") else ""
    if not hmac.compare_digest(given.encode(), key.encode()):
        raise APIError(
            401, "Invalid or missing API key: send `Authorization: Bearer <PIPELINE_API_KEY>`.", code="invalid_api_key"
        )


def stage_error(exc: StageError) -> APIError:
    if "busy" in exc.problem:
        return APIError(429, str(exc), "rate_limit_error", "queue_full")
    return APIError(503, str(exc), "server_error", "stage_unavailable")


def sources_data(answer: Answer) -> dict:
    """The sources as data: Perplexity-style `citations` and `search_results`, and our `sources`,
    with the verdict and its confidence."""
    quoted = answer.report.quoted if answer.verdict != "not_found" else ""
    sources = [
        {
            "n": s.n,
            "id": s.id,
            "source": s.source,
            "title": s.title,
            "page": s.page or None,
            "section": s.section or None,
            "cited": s.cited,
            "quote": quoted if s.cited else None,
            "text": s.text,
            "retrieve_score": s.retrieve_score,
            "rerank_score": s.rerank_score,
        }
        for s in answer.sources
    ]
    return {
        "citations": [s.source or s.id for s in answer.sources],
        "search_results": [
            {"title": s.title or s.source, "url": s.source or s.id, "date": None, "snippet": s.text[:300]}
            for s in answer.sources
        ],
        "sources": sources,
        "verdict": answer.verdict,
        "confidence": answer.confidence,
        "backend": answer.backend,
        "rerank_method": answer.rerank_method,
    }


def _usage(answer: Answer) -> dict:
    used = answer.report.usage
    prompt, completion = int(used.get("prompt_tokens") or 0), int(used.get("completion_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion(request: ChatRequest, answer: Answer, text: str) -> dict:
    """One `chat.completion` object."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": _usage(answer),
        **sources_data(answer),
    }


def _chunk(base: dict, delta: dict, finish: str | None = None, **extra) -> str:
    body = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return f"data: {json.dumps(body)}\n\n"


def stream_chunks(request: ChatRequest, events, render) -> Iterator[str]:
    """Server-sent events as OpenAI streams them: the role, the text as it grows (each chunk the
    new part), a last chunk with `finish_reason`, usage and the sources, then `data: [DONE]`."""
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.model,
    }
    yield _chunk(base, {"role": "assistant", "content": ""})
    sent = ""
    try:
        for event, value in events:
            if event == "done":
                text = render(value.text)
                if text.startswith(sent) and text != sent:
                    yield _chunk(base, {"content": text[len(sent) :]})
                yield _chunk(base, {}, "stop", usage=_usage(value), **sources_data(value))
    except StageError as exc:
        yield f"data: {json.dumps(stage_error(exc).body())}\n\n"
    yield "data: [DONE]\n\n"


def with_openai_routes(app, rag: RAGPipeline, *, render, api_key: str | None = None):
    """Add the /v1 routes to the FastAPI `app` (the chat server's, before Gradio is mounted on it).
    `render` turns the pipeline's answer text into what the chat page shows."""
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import JSONResponse, StreamingResponse

    key = api_key if api_key is not None else Settings.from_env().api_key

    def error(exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.get("/v1/models")
    async def models(request: Request):
        try:
            check_key(request.headers.get("authorization"), key)
        except APIError as exc:
            return error(exc)
        card = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "rag-microservice-suite"}
        return {"object": "list", "data": [card]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        try:
            check_key(request.headers.get("authorization"), key)
            try:
                body = await request.json()
            except ValueError:
                raise APIError(400, "The request body is not valid JSON.", code="invalid_json") from None
            chat = parse_request(body)
            generation = {"max_tokens": chat.max_tokens} if chat.max_tokens else {}
            events = rag.stream(chat.question, history=chat.history, temperature=0.0, **generation)
            if chat.stream:
                # The first event (the sources) comes after retrieval and rerank: a stage that is down
                # is then still an HTTP error, not a stream that breaks off.
                first = await run_in_threadpool(next, events)
                chunks = stream_chunks(chat, chain([first], events), render)
                return StreamingResponse(chunks, media_type="text/event-stream")
            answer = await run_in_threadpool(lambda: next(v for e, v in events if e == "done"))
            return completion(chat, answer, render(answer.text))
        except APIError as exc:
            return error(exc)
        except StageError as exc:
            return error(stage_error(exc))

    return app

"""Each Space is an MCP server: the real `mcp` client lists the tools over streamable HTTP at
/gradio_api/mcp/, checks their schemas and descriptions, and calls them."""

from __future__ import annotations

import ast
import asyncio

import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import STACK_TOKEN, chat_app

DOCS = ["Volcanoes erupt when magma rises.", "Tides are caused by the gravitational pull of the moon."]
# Tool name -> required arguments. UI handlers (the demos, the chat box) are not tools.
TOOLS = {
    "retrieve": {
        "retrieve": ["query"],
        "similarity_search": ["query"],
        "add_documents": ["files", "token"],
        "delete_source": ["source", "token"],
        "stats": [],
        "list_sources": [],
    },
    "rerank": {"rerank": ["query", "documents"], "status": []},
    "generate": {"generate": ["user_prompt"], "answer": ["query", "documents"], "status": []},
    "chat": {"ask": ["question"]},
}


async def _session(url: str, work):
    async with streamable_http_client(url.rstrip("/") + "/gradio_api/mcp/") as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return await work(session)


def run(url: str, work):
    return asyncio.run(_session(url, work))


async def _tools(session):
    return (await session.list_tools()).tools


def _text(result) -> str:
    assert not result.isError, result.content
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def _value(result):
    """Gradio's MCP server sends a table or a dict as its Python literal text."""
    return ast.literal_eval(_text(result))


@pytest.fixture(scope="module")
def urls(stack):
    with chat_app(stack.urls, write_token=STACK_TOKEN) as chat:
        yield {**stack.urls, "chat": chat}


@pytest.mark.parametrize("space", list(TOOLS))
def test_tools_are_the_public_endpoints_with_schemas_and_descriptions(urls, space):
    tools = {t.name: t for t in run(urls[space], _tools)}
    assert set(tools) == set(TOOLS[space])
    for name, required in TOOLS[space].items():
        tool = tools[name]
        schema = tool.inputSchema
        assert schema["type"] == "object" and sorted(schema.get("required", [])) == sorted(required), (name, schema)
        # Written for an agent: what it does, and each argument in words.
        assert len(tool.description) > 40, (name, tool.description)
        for arg, spec in schema["properties"].items():
            assert spec.get("description"), f"{space}.{name}: argument {arg} has no description"


def test_call_retrieve_rerank_and_answer_as_tools(urls):
    async def retrieve(session):
        return _value(await session.call_tool("retrieve", {"query": "What causes tides?", "k": 2}))

    hits = run(urls["retrieve"], retrieve)
    assert hits["headers"][:3] == ["id", "text", "source"] and "Tides" in hits["data"][0][1]

    async def rerank(session):
        return _value(await session.call_tool("rerank", {"query": "What causes tides?", "documents": DOCS}))

    ranked = run(urls["rerank"], rerank)
    assert len(ranked["data"]) == 2 and "rank" in ranked["headers"]

    async def answer(session):
        return _text(
            await session.call_tool("answer", {"query": "What causes tides?", "documents": DOCS, "max_tokens": 16})
        )

    out = run(urls["generate"], answer)
    assert "[" in out and "supported" in out  # the text with its citation, and the final info


def test_ask_answers_end_to_end_with_sources(urls):
    async def ask(session):
        return _value(await session.call_tool("ask", {"question": "What causes tides?"}))

    got = run(urls["chat"], ask)
    assert got["answer"] and [s["n"] for s in got["sources"]] == list(range(1, len(got["sources"]) + 1))
    assert "tiny.gguf" in got["backend"] and isinstance(got["supported"], bool)  # the stack's test model answered

    async def bad(session):
        return await session.call_tool("ask", {"question": "   "})

    result = run(urls["chat"], bad)
    assert result.isError and "question is empty" in str(result.content)

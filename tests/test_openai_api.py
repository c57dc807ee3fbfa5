"""The OpenAI-compatible API on the chat server, called by clients no one here wrote: the official
`openai` package and Gradio's own `gr.load_chat`, over three real Spaces on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.request

import pytest
from gradio_client import Client
from rag_contract.messages import message_text

from pipeline.openai_api import APIError, check_key, parse_request
from tests.conftest import chat_app

KEY = "sk-test-pipeline-key"


# -- pure: the request and the key ---------------------------------------------------------------


def test_messages_become_a_question_and_its_history():
    chat = parse_request(
        {
            "model": "rag-pipeline",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is the Eiffel Tower?"},
                {"role": "assistant", "content": "A tower in Paris (source 1)."},
                {"role": "user", "content": [{"type": "text", "text": "When was it built?"}]},
            ],
            "stream": True,
        }
    )
    assert chat.question == "When was it built?" and chat.stream
    assert chat.history == [["What is the Eiffel Tower?", "A tower in Paris (source 1)."]]


@pytest.mark.parametrize(
    "body, code",
    [
        ({}, "empty_messages"),
        ({"messages": []}, "empty_messages"),
        ({"messages": [{"role": "system", "content": "hi"}]}, "no_user"),
        ({"messages": [{"role": "user", "content": "   "}]}, "no_user"),
        ({"messages": [{"role": "user", "content": "q"}], "max_tokens": 0}, "max_tokens"),
        ([1, 2], "invalid_body"),
    ],
)
def test_bad_requests_get_openai_shaped_errors(body, code):
    with pytest.raises(APIError) as err:
        parse_request(body)
    assert err.value.status == 400 and err.value.body()["error"]["code"] == code


def test_the_key_is_checked():
    check_key(None, "")  # no key set: open
    check_key(f"Bearer {KEY}", KEY)
    for header in (None, "", KEY, "Bearer wrong", f"Basic {KEY}"):
        with pytest.raises(APIError) as err:
            check_key(header, KEY)
        assert err.value.status == 401 and KEY not in str(err.value)


# -- through the real stack ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(stack):
    with chat_app(stack.urls, api_key=KEY) as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    import openai

    return openai.OpenAI(base_url=f"{server}v1", api_key=KEY, max_retries=0, timeout=120)


def test_models_then_a_plain_and_a_streamed_answer_that_agree(client):
    assert [m.id for m in client.models.list()] == ["rag-pipeline"]
    question = [{"role": "user", "content": "What causes tides?"}]
    plain = client.chat.completions.create(model="rag-pipeline", messages=question)
    text = plain.choices[0].message.content
    assert text and plain.choices[0].finish_reason == "stop" and plain.usage.prompt_tokens > 0
    extra = plain.model_extra
    assert extra["verdict"] in ("answer", "likely", "not_found") and 0 <= extra["confidence"] <= 1
    assert extra["citations"][0] in ("tides.txt", "mirror-tides.txt")
    assert {"title", "url", "snippet"} <= set(extra["search_results"][0])
    first = extra["sources"][0]
    assert {"n", "source", "page", "section", "quote", "retrieve_score", "rerank_score"} <= set(first)
    chunks = list(client.chat.completions.create(model="rag-pipeline", messages=question, stream=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text  # the same answer, streamed
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop" and last.model_extra["sources"] == extra["sources"]
    assert last.model_extra["verdict"] == extra["verdict"]


def test_a_follow_up_with_history_is_retrieved_with_the_conversation(client):
    messages = [
        {"role": "user", "content": "What rises through the crust?"},
        {"role": "assistant", "content": "Magma (source 1)."},
        {"role": "user", "content": "When does it erupt?"},
    ]
    answer = client.chat.completions.create(model="rag-pipeline", messages=messages)
    assert answer.model_extra["citations"][0] == "volcanoes.md"


def test_a_wrong_key_and_an_empty_message_list_get_the_openai_errors(server, client):
    import openai

    wrong = openai.OpenAI(base_url=f"{server}v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="rag-pipeline", messages=[])
    assert "messages" in str(err.value)


def test_a_stage_that_is_down_is_a_503(stack):
    urls = {**stack.urls, "retrieve": "http://127.0.0.1:9/"}  # nothing listens there
    with chat_app(urls) as url:
        request = urllib.request.Request(
            f"{url}v1/chat/completions",
            data=json.dumps({"messages": [{"role": "user", "content": "What causes tides?"}]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=60)
        assert err.value.code == 503
        body = json.loads(err.value.read())
        assert body["error"]["type"] == "server_error" and "retrieve" in body["error"]["message"]


def test_gradio_load_chat_builds_a_chat_on_the_endpoint(server, client):
    import gradio as gr

    expected = client.chat.completions.create(
        model="rag-pipeline", messages=[{"role": "user", "content": "What causes tides?"}]
    )
    # file_types=None: a plain text box (the default is a multimodal one, which takes a dict).
    demo = gr.load_chat(f"{server}v1", model="rag-pipeline", token=KEY, streaming=True, file_types=None)
    _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        got = Client(url, verbose=False).predict("What causes tides?", api_name="/open_api_stream")
        assert got == expected.choices[0].message.content  # the same answer, through a client no one here wrote
    finally:
        demo.close()


def test_the_endpoint_answers_as_the_chat_page_does(server, client):
    """Same question, same stack: the page's chat handler and its `ask` tool, and the endpoint,
    give the same text, verdict and sources."""
    question = "What causes tides?"
    api = client.chat.completions.create(model="rag-pipeline", messages=[{"role": "user", "content": question}])
    page = Client(server, verbose=False, headers={"Authorization": f"Bearer {KEY}"})
    history, _, sources_md, _ = page.predict(question, [], 20, 5, 256, api_name="/chat")
    assert message_text(history[-1]["content"]) == api.choices[0].message.content
    asked = page.predict(question, 20, 5, api_name="/ask")
    extra = api.model_extra
    assert asked["verdict"] == extra["verdict"] and asked["confidence"] == pytest.approx(extra["confidence"])
    assert [(s["n"], s["source"]) for s in asked["sources"]] == [(s["n"], s["source"]) for s in extra["sources"]]
    for s in extra["sources"]:  # every source the endpoint names is on the page's source cards
        assert s["source"] in sources_md

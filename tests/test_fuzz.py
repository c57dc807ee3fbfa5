"""Fast fuzz profile: 25 generated calls per public endpoint, through gradio_client, on real
Spaces. The long profile (>= 200 per endpoint) is `benchmarks/fuzz.py`."""

from __future__ import annotations

import concurrent.futures as cf
import os

import pytest
from gradio_client import Client
from hypothesis import HealthCheck, given, settings

from tests.conftest import STACK_TOKEN, chat_app
from tests.fuzz import HEALTH, Endpoint, clear, endpoints

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CALL_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def clients(stack):
    with chat_app(stack.urls, pipeline_kw={"timeout": 30}, write_token=STACK_TOKEN) as chat:
        yield {
            **{name: Client(url, verbose=False) for name, url in stack.urls.items()},
            "chat": Client(chat, verbose=False),
        }


def call(client: Client, api_name: str, args: tuple):
    job = client.submit(*args, api_name=api_name)
    try:
        return job.result(timeout=CALL_TIMEOUT_S), None
    except cf.TimeoutError:
        job.cancel()
        raise AssertionError(f"{api_name}{args!r:.300} hung for more than {CALL_TIMEOUT_S} s")
    except Exception as exc:  # noqa: BLE001 - judged below
        return None, exc


ENDPOINTS = endpoints(STACK_TOKEN)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[f"{e.space}{e.api_name}" for e in ENDPOINTS])
def test_every_call_ends_in_a_result_or_a_clear_error(clients, endpoint: Endpoint):
    client = clients[endpoint.space]
    unclear = []

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(args=endpoint.args)
    def fuzz(args):
        _, exc = call(client, endpoint.api_name, args)
        if exc is not None and not clear(str(exc)):
            unclear.append(f"{endpoint.api_name}{args!r:.200} -> {type(exc).__name__}: {str(exc)[:300]}")

    fuzz()
    assert not unclear, "unclear errors:\n" + "\n".join(unclear[:10])
    api_name, good = HEALTH[endpoint.space]
    out, exc = call(client, api_name, good)  # the Space still answers a good request
    assert exc is None and out is not None, f"{endpoint.space} after fuzzing {endpoint.api_name}: {exc}"

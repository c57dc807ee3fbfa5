"""Long fuzz profile: N generated calls per public endpoint (default 200), through gradio_client,
against the stack `make run` starts (packaged models, offline), plus the chat app's `ask`.

    .venv/bin/python benchmarks/fuzz.py [--examples 200] [--json]

Per endpoint: calls made, results, clear errors, unclear errors, hangs (no answer within 60 s),
and whether the Space answered a good request afterwards. The same strategies run in
`make test` with 25 examples per endpoint (tests/test_fuzz.py).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import secrets
import sys
import tempfile
from collections import Counter

from _common import Report, machine
from gradio_client import Client  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

from pipeline import RAGPipeline, Service, Stack  # noqa: E402
from pipeline.chat import build_chat_app  # noqa: E402
from pipeline.launcher import free_port  # noqa: E402
from tests.fuzz import HEALTH, clear, endpoints  # noqa: E402

TIMEOUT_S = 60


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    report = Report(f"Fuzzing the public endpoints ({args.examples} generated calls each; {machine()})", args.json)
    token = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"RETRIEVE_INDEX_DIR": tmp, "RETRIEVE_WRITE_TOKEN": token, "HF_TOKEN": "", "HF_HUB_OFFLINE": "1"}
        with Stack(
            [Service(n, env=env, log_path=f"{tmp}/{n}.log") for n in ("retrieve", "rerank", "generate")]
        ) as stack:
            u = stack.urls
            chat = build_chat_app(
                RAGPipeline(retrieve=u["retrieve"], rerank=u["rerank"], generate=u["generate"], timeout=TIMEOUT_S),
                write_token=token,
            )
            port = free_port()
            chat.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
            try:
                clients = {
                    **{n: Client(url, verbose=False) for n, url in u.items()},
                    "chat": Client(f"http://127.0.0.1:{port}/", verbose=False),
                }
                totals = Counter()
                for ep in endpoints(token):
                    counts = Counter()
                    examples: list[str] = []

                    @settings(
                        max_examples=args.examples,
                        deadline=None,
                        database=None,
                        derandomize=True,
                        suppress_health_check=list(HealthCheck),
                    )
                    @given(call_args=ep.args)
                    def fuzz(call_args):
                        job = clients[ep.space].submit(*call_args, api_name=ep.api_name)
                        try:
                            job.result(timeout=TIMEOUT_S)
                            counts["result"] += 1
                        except cf.TimeoutError:
                            job.cancel()
                            counts["hang"] += 1
                        except Exception as exc:  # noqa: BLE001 - judged here
                            counts["clear error" if clear(str(exc)) else "unclear error"] += 1
                            if not clear(str(exc)) and len(examples) < 3:
                                examples.append(f"{call_args!r:.120} -> {str(exc)[:160]}")

                    fuzz()
                    api_name, good = HEALTH[ep.space]
                    try:
                        clients[ep.space].predict(*good, api_name=api_name)
                        healthy = 1.0
                    except Exception:  # noqa: BLE001
                        healthy = 0.0
                    name = f"{ep.space}{ep.api_name}"
                    calls = sum(counts.values())
                    report.add(
                        f"calls/{name}",
                        calls,
                        "calls",
                        f"{counts['result']} results, {counts['clear error']} clear errors",
                    )
                    report.add(f"unclear/{name}", counts["unclear error"], "calls", "; ".join(examples))
                    report.add(f"hangs/{name}", counts["hang"], "calls", f"no answer within {TIMEOUT_S} s")
                    report.add(f"healthy_after/{name}", healthy, "bool", "a good request answered afterwards")
                    totals.update(counts)
                    totals["endpoints"] += 1
                    totals["unhealthy"] += healthy == 0.0
                report.add(
                    "calls/total",
                    sum(totals[k] for k in ("result", "clear error", "unclear error", "hang")),
                    "calls",
                    f"{totals['endpoints']} endpoints",
                )
                report.add(
                    "failures/total",
                    totals["unclear error"] + totals["hang"] + totals["unhealthy"],
                    "calls",
                    "unclear errors + hangs + Spaces that stopped answering",
                )
            finally:
                chat.close()
    report.print()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    sys.exit(main())

"""What the OpenAI-compatible endpoint adds over `RAGPipeline.ask`, measured in one run.

    python benchmarks/openai_latency.py [--json] [--rounds 10]

Starts the three Spaces on free loopback ports over the bundled corpus (offline models, as `make
run` serves them) and the chat server (page and /v1 routes, as `python -m pipeline up` serves
it). For each question, interleaved: `RAGPipeline.ask` in this process, then the same question
through the official `openai` client, plain and streamed. Reports the medians and the p50 of the
per-question difference (target <= 20 ms).
"""

from __future__ import annotations

import argparse
import time

from _common import BUNDLED_QUESTIONS, Report, bundled_stack, machine, median

from pipeline.chat import build_chat_app
from pipeline.launcher import free_port
from pipeline.server import ChatServer, chat_server_app

QUESTIONS = BUNDLED_QUESTIONS


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    import openai

    report = Report(f"OpenAI endpoint overhead over RAGPipeline.ask ({machine()})", args.json)
    with bundled_stack() as rag:
        server = ChatServer(chat_server_app(rag, build_chat_app(rag), api_key=""), port=free_port()).start()
        client = openai.OpenAI(base_url=f"{server.url}v1", api_key="x", max_retries=0, timeout=300)
        times: dict[str, list[float]] = {"ask": [], "openai": [], "openai_stream": []}
        try:
            for q in QUESTIONS:  # warm every cache once
                rag.ask(q, temperature=0.0)
            for _ in range(args.rounds):
                for q in QUESTIONS:
                    messages = [{"role": "user", "content": q}]
                    t = time.perf_counter()
                    rag.ask(q, temperature=0.0)
                    times["ask"].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    client.chat.completions.create(model="rag-pipeline", messages=messages)
                    times["openai"].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    list(client.chat.completions.create(model="rag-pipeline", messages=messages, stream=True))
                    times["openai_stream"].append(time.perf_counter() - t)
        finally:
            server.stop()
    for name, xs in times.items():
        report.add(f"p50_ms/{name}", 1000 * median(xs), "ms", f"{len(xs)} questions")
    for name in ("openai", "openai_stream"):
        diffs = [b - a for a, b in zip(times["ask"], times[name])]
        report.add(f"added_p50_ms/{name}", 1000 * median(diffs), "ms", "per question, same run; target <= 20")
    report.print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Load: N concurrent clients ask questions through RAGPipeline for S seconds, against the stack
`make run` starts (packaged models, offline, the bundled corpus).

    .venv/bin/python benchmarks/load.py [--clients 8] [--seconds 60] [--json]

Reports answers per minute, latency p50/p95 (question to final answer), errors, and
rejections: calls the generate Space refused at once because its queue (GENERATE_QUEUE_SIZE)
was full, with how long a refusal took. Each client asks the next question as soon as it has
an answer, so the load is closed-loop: N requests in flight at all times.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time

from _common import Report, machine, median, percentile

from pipeline import RAGPipeline, Service, Stack, StageError  # noqa: E402

QUESTIONS = [
    "What happens if ingestion crashes halfway?",
    "Which files can I upload?",
    "What happens when the cross-encoder cannot load?",
    "Which model writes the answers?",
    "How does hybrid search work?",
    "Where is the index stored?",
    "What if a stage is down?",
    "How are answers checked?",
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument(
        "--queue-size", type=int, default=None, help="GENERATE_QUEUE_SIZE for this run (default: the Space's own)"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    report = Report(f"Load: {args.clients} clients x {args.seconds:g} s through the pipeline ({machine()})", args.json)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"RETRIEVE_INDEX_DIR": tmp, "HF_TOKEN": "", "HF_HUB_OFFLINE": "1"}
        if args.queue_size is not None:
            env["GENERATE_QUEUE_SIZE"] = str(args.queue_size)
        with Stack(
            [Service(n, env=env, log_path=f"{tmp}/{n}.log") for n in ("retrieve", "rerank", "generate")]
        ) as stack:
            u = stack.urls
            RAGPipeline(retrieve=u["retrieve"], rerank=u["rerank"], generate=u["generate"]).ask(QUESTIONS[0])  # warm up
            lock = threading.Lock()
            latencies: list[float] = []
            refusals: list[float] = []
            errors: list[str] = []
            stop_at = time.monotonic() + args.seconds

            def client(i: int) -> None:
                rag = RAGPipeline(retrieve=u["retrieve"], rerank=u["rerank"], generate=u["generate"], timeout=120)
                n = i
                while time.monotonic() < stop_at:
                    t = time.monotonic()
                    try:
                        rag.ask(QUESTIONS[n % len(QUESTIONS)])
                        with lock:
                            latencies.append(time.monotonic() - t)
                    except StageError as exc:
                        busy = "busy" in str(exc)
                        with lock:
                            if busy:
                                refusals.append(time.monotonic() - t)
                            else:
                                errors.append(str(exc)[:200])
                        if busy:
                            time.sleep(1.0)  # a polite client backs off before asking again
                    n += args.clients

            start = time.monotonic()
            threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            elapsed = time.monotonic() - start
    report.add(
        "answers_per_min",
        60 * len(latencies) / elapsed,
        "1/min",
        f"{len(latencies)} answers in {elapsed:.0f} s (the last ones finish after --seconds)",
    )
    report.add("latency_p50_s", median(latencies) if latencies else float("nan"), "s", "question to final answer")
    report.add("latency_p95_s", percentile(latencies, 95) if latencies else float("nan"), "s", "")
    report.add("errors", len(errors), "calls", "; ".join(sorted(set(errors))[:3]))
    report.add("rejections", len(refusals), "calls", "refused at once as busy (queue full)")
    report.add("rejection_p95_s", percentile(refusals, 95) if refusals else 0.0, "s", "how long a refusal took")
    report.print()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    sys.exit(main())

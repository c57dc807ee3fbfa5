"""One Space or four: resident memory and answer latency, both set-ups running side by side.

    python benchmarks/one_space.py [--json] [--rounds 5]

Starts, over the bundled corpus with the offline models (as `make run` serves them), each with
its own index folder:
  four   the retrieve, rerank and generate Spaces and the chat Space (spaces/chat), four processes
         that talk over HTTP through gradio_client, as four Hugging Face Spaces would;
  one    spaces/suite: the chat page and the three stages in one process.
Each question goes to the chat page's /ask of both, interleaved (four, then one, question by
question), so both see the same machine load. Reports:
  rss_mb/four, rss_mb/one   resident memory after the warm-up (each process with its children,
                            summed for the four: deployed, each runs in its own container)
  rss_ratio                 one / four (target <= 0.6)
  answer_s/four, /one       p50 of the whole /ask call, as a gradio_client caller sees it
  faster_s                  p50 of the per-question difference, four - one (target >= 0.2)
  same_answers              questions where both gave the same text, verdict and sources
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psutil
from _common import BUNDLED_QUESTIONS, Report, machine, median
from gradio_client import Client

from pipeline import Service, Stack

QUESTIONS = [*BUNDLED_QUESTIONS, "Which port does the chat page listen on?"]


def rss_mb(service: Service) -> float:
    """Resident memory of a Space's process and its children (llama.cpp probes, tokenizer workers)."""
    proc = psutil.Process(service.proc.pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


def started(tmp: Path, name: str) -> list[Service]:
    offline = {"HF_TOKEN": "", "HF_HUB_OFFLINE": "1"}
    if name == "one":
        env = {**offline, "RETRIEVE_INDEX_DIR": str(tmp / "one-index")}
        return [Service("suite", env=env, log_path=tmp / "suite.log")]
    env = {**offline, "RETRIEVE_INDEX_DIR": str(tmp / "four-index")}
    stages = [Service(n, env=env, log_path=tmp / f"{n}.log") for n in ("retrieve", "rerank", "generate")]
    urls = {f"PIPELINE_{s.name.upper()}_URL": s.url for s in stages}
    return [*stages, Service("chat", env={**offline, **urls}, log_path=tmp / "chat.log")]


def answer(client: Client, question: str) -> tuple[float, tuple]:
    t = time.perf_counter()
    out = client.predict(question, api_name="/ask")
    seconds = time.perf_counter() - t
    return seconds, (out["answer"], out["verdict"], [(s["n"], s["source"], s["cited"]) for s in out["sources"]])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    report = Report(f"One Space or four: memory and latency, side by side ({machine()})", args.json)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        setups = {name: started(tmp, name) for name in ("four", "one")}
        with Stack(setups["four"]) as four, Stack(setups["one"]) as one:
            clients = {
                "four": Client(four.services[-1].url, verbose=False),
                "one": Client(one.services[0].url, verbose=False),
            }
            same = 0
            for q in QUESTIONS:  # warm every model and cache once, and compare the answers
                same += answer(clients["four"], q)[1] == answer(clients["one"], q)[1]
            rss = {name: sum(rss_mb(s) for s in services) for name, services in setups.items()}
            times: dict[str, list[float]] = {"four": [], "one": []}
            for _ in range(args.rounds):
                for q in QUESTIONS:
                    for name in ("four", "one"):
                        times[name].append(answer(clients[name], q)[0])
    report.add("rss_mb/four", rss["four"], "MiB", " + ".join(s.name for s in setups["four"]))
    report.add("rss_mb/one", rss["one"], "MiB", "spaces/suite")
    report.add("rss_ratio", rss["one"] / rss["four"], "ratio", "one / four; target <= 0.6")
    report.add("answer_s/four", median(times["four"]), "s", f"/ask p50, {len(times['four'])} calls")
    report.add("answer_s/one", median(times["one"]), "s", f"/ask p50, {len(times['one'])} calls")
    diffs = [a - b for a, b in zip(times["four"], times["one"])]
    report.add("faster_s", median(diffs), "s", "p50 of four - one, question by question; target >= 0.2")
    report.add("same_answers", same, "questions", f"of {len(QUESTIONS)}: same text, verdict and sources")
    report.print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Shared helpers for the benchmark scripts: imports, BEIR loading, metrics, output."""

from __future__ import annotations

import json
import math
import os
import platform
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BEIR = ROOT.parent / "shared" / "data" / "scifact"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def load_beir(folder: str | Path, split: str = "test"):
    """Corpus (id -> dict), queries (id -> text) and qrels (qid -> {doc_id: grade}) of a BEIR folder."""
    folder = Path(folder)
    corpus = {}
    with open(folder / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            obj = json.loads(line)
            corpus[str(obj["_id"])] = obj
    queries = {}
    with open(folder / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            obj = json.loads(line)
            queries[str(obj["_id"])] = obj["text"]
    qrels: dict[str, dict[str, int]] = {}
    with open(folder / "qrels" / f"{split}.tsv", encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0] == "query-id":
                continue
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    queries = {q: t for q, t in queries.items() if q in qrels}
    return corpus, queries, qrels


def ndcg_at(ranked: list[str], rel: dict[str, int], k: int = 10) -> float:
    dcg = sum((2 ** rel.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(rel.values(), reverse=True)[:k]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranked: list[str], rel: dict[str, int], k: int = 100) -> float:
    relevant = {d for d, g in rel.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return (s[n // 2] + s[(n - 1) // 2]) / 2 if n else float("nan")


def percentile(xs: list[float], p: float) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    i = min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))
    return s[i]


class Report:
    """Collects (name, value, unit) rows; prints a table, or JSON lines with --json."""

    def __init__(self, title: str, as_json: bool):
        self.title, self.as_json, self.rows = title, as_json, []

    def add(self, name: str, value: float, unit: str, note: str = "") -> None:
        self.rows.append((name, value, unit, note))
        if self.as_json:
            print(json.dumps({"name": name, "value": round(float(value), 6), "unit": unit}), flush=True)

    def print(self) -> None:
        if self.as_json:
            return
        print(f"\n{self.title}\nmachine: {machine()}\n")
        w = max(len(r[0]) for r in self.rows) if self.rows else 10
        print(f"{'name':<{w}}  {'value':>12}  unit      note")
        print(f"{'-' * w}  {'-' * 12}  --------  ----")
        for name, value, unit, note in self.rows:
            print(f"{name:<{w}}  {value:>12.4f}  {unit:<8}  {note}")


@contextmanager
def bundled_stack():
    """The three Spaces on free loopback ports over the bundled corpus (README.md and docs/), offline,
    with a fresh index, as `make run` serves them; yields a RAGPipeline over them."""
    from pipeline import RAGPipeline, Service, Stack

    with tempfile.TemporaryDirectory() as tmp:
        env = {"RETRIEVE_INDEX_DIR": str(Path(tmp) / "index"), "HF_TOKEN": "", "HF_HUB_OFFLINE": "1"}
        services = [Service(n, env=env, log_path=Path(tmp) / f"{n}.log") for n in ("retrieve", "rerank", "generate")]
        with Stack(services) as stack:
            u = stack.urls
            yield RAGPipeline(retrieve=u["retrieve"], rerank=u["rerank"], generate=u["generate"], timeout=300)


# Questions the bundled corpus (README.md and docs/) answers, for the speed benchmarks over it.
BUNDLED_QUESTIONS = [
    "Which files can I upload?",
    "What happens if ingestion crashes halfway?",
    "How does hybrid search work?",
    "Where is the index stored?",
    "Which embedding model does retrieval use?",
]

"""Pipeline latency against a local stack: per-stage times, hop overhead, end-to-end TTFT.

    python benchmarks/pipeline_latency.py [--json] [--rounds 15] [--chart docs/pipeline_latency.svg]

Starts the three Spaces on free loopback ports (retrieve on this repo's docs, the rerank
Space with a cross-encoder of ms-marco-MiniLM-L6-v2's shape, the generate Space with a
GGUF of SmolLM2-360M's shape; random weights, real compute), then for each transport
(gradio_client, the default; and Gradio's REST route, opt-in) reports:
  stage_p50_ms/<stage>, stage_p95_ms/<stage>   client-side time of each stage's call
  hop_overhead_ms/<stage>                      client time minus the Space's own compute time
  ttft_s/pipeline                              question to first answer token, end to end
and the same flow composed in process (the packages called directly) as the reference.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from _common import ROOT, Report, median, percentile

from pipeline import RAGPipeline, Service, Stack  # noqa: E402
from pipeline.rag import _table  # noqa: E402

QUERIES = [
    "How is the index kept safe from crashes?",
    "What happens when the reranker cannot load?",
    "Which backend answers when there is no network?",
    "How are sources trimmed to fit the context window?",
    "What does the retrieve Space return?",
]


def build_models(cache) -> dict:
    from generation_speed import model_file

    from tests.tiny_models import make_cross_encoder

    ce = cache / "ce-msmarco-minilm-l6-shape"
    if not (ce / "config.json").exists():
        make_cross_encoder(ce, layers=6, hidden=384, heads=12, ffn=1536)
    return {"RERANK_MODEL": str(ce), "GENERATE_MODEL_PATH": model_file()}


def run_pipeline(rag: RAGPipeline, query: str, max_tokens: int) -> dict:
    t = {}
    start = time.perf_counter()
    for event, value in rag.stream(query, 20, 5, max_tokens=max_tokens, temperature=0.0):
        if event == "done":
            t = dict(value.timings)
            t["generate_server_total_s"] = value.info.get("timings", {}).get("total_s")
    t["wall_s"] = time.perf_counter() - start
    return t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--chart", default=str(ROOT / "docs" / "pipeline_latency.svg"))
    args = ap.parse_args()
    report = Report("Pipeline latency (local stack, loopback)", args.json)
    cache = ROOT / ".cache" / "bench"
    env = build_models(cache)
    with tempfile.TemporaryDirectory() as tmp:
        env.update(
            {
                "RETRIEVE_INDEX_DIR": tmp,
                "RETRIEVE_CORPUS": f"{ROOT / 'docs'}:{ROOT / 'README.md'}",
                "HF_TOKEN": "",
                "HF_HUB_OFFLINE": "1",
            }
        )
        with Stack([Service(n, env=env, log_path=f"{tmp}/{n}.log") for n in ("retrieve", "rerank", "generate")]).start(
            timeout=300
        ) as stack:  # starts once
            u = stack.urls
            breakdown = {}
            for transport in ("gradio_client", "rest"):
                rag = RAGPipeline(
                    retrieve=u["retrieve"], rerank=u["rerank"], generate=u["generate"], transport=transport
                )
                run_pipeline(rag, QUERIES[0], args.max_tokens)  # connect and warm up
                runs = [run_pipeline(rag, QUERIES[i % len(QUERIES)], args.max_tokens) for i in range(args.rounds)]
                # Trivial calls isolate the hop: /stats does no model work on the server.
                stats, status = [], []
                for _ in range(args.rounds):
                    t = time.perf_counter()
                    rag.retrieve.call("/stats")
                    stats.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    rag.rerank.call("/status")
                    status.append(time.perf_counter() - t)
                tag = "" if transport == "gradio_client" else "/rest"
                for stage in ("retrieve", "rerank", "generate"):
                    xs = [r[f"{stage}_s"] for r in runs]
                    report.add(f"stage_p50_ms/{stage}{tag}", 1000 * median(xs), "ms")
                    report.add(f"stage_p95_ms/{stage}{tag}", 1000 * percentile(xs, 95), "ms")
                report.add(
                    f"hop_overhead_ms/retrieve{tag}",
                    1000 * median(stats),
                    "ms",
                    "client time of /stats (no server work); target <= 50",
                )
                report.add(
                    f"hop_overhead_ms/rerank{tag}",
                    1000 * median(status),
                    "ms",
                    "client time of /status (no server work); target <= 50",
                )
                report.add(
                    f"hop_overhead_ms/generate{tag}",
                    1000 * median([r["generate_s"] - r["generate_server_total_s"] for r in runs]),
                    "ms",
                    "client minus the Space's reported total; target <= 50",
                )
                report.add(f"ttft_s/pipeline{tag}", median([r["ttft_s"] for r in runs]), "s", "question to first token")
                report.add(
                    f"total_s/pipeline{tag}",
                    median([r["total_s"] for r in runs]),
                    "s",
                    f"{args.max_tokens} answer tokens",
                )
                breakdown[transport] = {
                    "retrieve": median([r["retrieve_s"] for r in runs]),
                    "rerank": median([r["rerank_s"] for r in runs]),
                    "generate (to first token)": median([r["ttft_s"] - r["retrieve_s"] - r["rerank_s"] for r in runs]),
                    "generate (rest of answer)": median([r["total_s"] - r["ttft_s"] for r in runs]),
                }
    breakdown["in process"] = in_process_reference(env, args, report)
    if args.chart:
        write_chart(breakdown, args.chart)
    report.print()
    return 0


def in_process_reference(env: dict, args, report: Report) -> dict:
    """The same flow with the Spaces' packages called directly: no HTTP, no queues."""
    import os

    from rag_generate.api import GenerateAPI
    from rag_generate.config import Settings as GenSettings
    from rag_rerank.reranker import Reranker
    from rag_rerank.scorers import load_scorer
    from rag_retrieve.retriever import Retriever

    with tempfile.TemporaryDirectory() as tmp:
        retriever = Retriever(index_dir=tmp)
        retriever.ingest_paths([ROOT / "docs", ROOT / "README.md"])
        reranker = Reranker(load_scorer(env["RERANK_MODEL"]))
        s = GenSettings.from_env()
        gen = GenerateAPI(GenSettings(**{**s.__dict__, "model_path": env["GENERATE_MODEL_PATH"], "hf_token": ""}))
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        runs = []
        for i in range(args.rounds + 1):
            q = QUERIES[i % len(QUERIES)]
            t0 = time.perf_counter()
            hits = [
                {"id": h.chunk.id, "text": h.chunk.text, "source": h.chunk.source, "score": h.score}
                for h in retriever.search(q, k=20)
            ]
            t1 = time.perf_counter()
            result = reranker.run(q, _table(hits), 5)
            docs = [dict(zip(result.headers, r)) for r in result.rows]
            t2 = time.perf_counter()
            first = None
            for text, info in gen.answer(q, docs, [], args.max_tokens, 0.0, 0.95, 40):
                if first is None and text:
                    first = time.perf_counter()
            t3 = time.perf_counter()
            if i:
                runs.append((t1 - t0, t2 - t1, first - t2, t3 - first, first - t0))
    report.add("ttft_s/in_process", median([r[4] for r in runs]), "s", "the reference: same flow, no HTTP")
    return {
        "retrieve": median([r[0] for r in runs]),
        "rerank": median([r[1] for r in runs]),
        "generate (to first token)": median([r[2] for r in runs]),
        "generate (rest of answer)": median([r[3] for r in runs]),
    }


def write_chart(breakdown: dict, path: str) -> None:
    """A horizontal stacked bar per transport, as a dependency-free SVG."""
    colors = {
        "retrieve": "#4c78a8",
        "rerank": "#f58518",
        "generate (to first token)": "#54a24b",
        "generate (rest of answer)": "#b5d99c",
    }
    rows = list(breakdown.items())
    total_max = max(sum(v.values()) for _, v in rows)
    width, left, bar_h, gap = 760, 130, 34, 22
    scale = (width - left - 40) / total_max
    height = 60 + len(rows) * (bar_h + gap) + 60
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        f'<text x="{left}" y="24" font-size="15" font-weight="bold">Where the time goes: one question, median seconds</text>',
    ]
    for i, (name, parts) in enumerate(rows):
        y = 44 + i * (bar_h + gap)
        out.append(f'<text x="{left - 8}" y="{y + bar_h / 2 + 4}" text-anchor="end">{name}</text>')
        x = left
        for part, secs in parts.items():
            w = max(secs * scale, 0.5)
            out.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colors[part]}"><title>{part}: {secs:.3f} s</title></rect>'
            )
            if w > 38:
                out.append(
                    f'<text x="{x + w / 2:.1f}" y="{y + bar_h / 2 + 4}" text-anchor="middle" fill="white">{secs:.2f}</text>'
                )
            x += w
        out.append(f'<text x="{x + 6:.1f}" y="{y + bar_h / 2 + 4}">{sum(parts.values()):.2f} s</text>')
    ly = 44 + len(rows) * (bar_h + gap) + 10
    for j, (part, color) in enumerate(colors.items()):
        out.append(
            f'<rect x="{left + j * 160}" y="{ly}" width="12" height="12" fill="{color}"/><text x="{left + j * 160 + 16}" y="{ly + 11}">{part}</text>'
        )
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    sys.exit(main())

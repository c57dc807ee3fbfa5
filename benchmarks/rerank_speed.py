"""Rerank latency for 20 and 50 passages of about 256 tokens, through the Space's own code.

    python benchmarks/rerank_speed.py [BEIR_DIR] [--json] [--rounds 7]

The project's answer cross-encoder (the offline scorer, models/answer-reader) is timed as it ships
(bf16 where the CPU has AMX, else fp32) and in fp32: `rerank_ms/20/answer-reader`, with the
encoder's arithmetic for those 20 pairs (`gflop/20/answer-reader`), the rate fp32 reached and the
rate 300 ms would need, to compare with the cores' fp32 peak. The configured
cross-encoder has the exact shape of cross-encoder/ms-marco-MiniLM-L6-v2 (6 layers,
hidden 384, 12 heads, FFN 1536, vocab 30522) with random weights: the same compute as the
real model. For each precision (fp32, and dynamic int8 via RERANK_QUANTIZE=int8) it
reports the `Reranker.run` median (`rerank_ms/<n>` for the default fp32 path,
`rerank_ms/<n>/int8`), raw `CrossEncoder.predict` on the same pairs, their ratio, and the
Kendall tau between int8 and fp32 scores. Random weights give nearly tied scores, so that
tau is a worst case; with the real model present (a machine with network, or the Hub cache),
the script also reports the real model's int8 agreement and retrieve->rerank nDCG@10.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
from _common import DEFAULT_BEIR, ROOT, Report, load_beir, median, ndcg_at
from rag_rerank.reranker import Reranker  # noqa: E402
from rag_rerank.scorers import CrossEncoderScorer, ScorerChoice, resolve  # noqa: E402

from tests.tiny_models import make_cross_encoder  # noqa: E402


def passages(beir_dir: str, n: int, tokenizer, tokens: int = 256) -> list[str]:
    corpus, _, _ = load_beir(beir_dir)
    texts = [f"{o.get('title', '')}. {o['text']}" for o in corpus.values()]
    random.Random(0).shuffle(texts)
    out = []
    for t in texts:
        ids = tokenizer(t, add_special_tokens=False)["input_ids"]
        if len(ids) >= tokens:
            out.append(tokenizer.decode(ids[:tokens]))
        if len(out) == n:
            return out
    raise SystemExit(f"not enough passages of {tokens} tokens in {beir_dir}")


def kendall(a, b) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("beir_dir", nargs="?", default=str(DEFAULT_BEIR))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    report = Report("Rerank speed (ms-marco-MiniLM-L6-v2 shape, random weights)", args.json)

    model_dir = ROOT / ".cache" / "bench" / "ce-msmarco-minilm-l6-shape"
    if not (model_dir / "config.json").exists():
        make_cross_encoder(model_dir, layers=6, hidden=384, heads=12, ffn=1536)
    fp32 = CrossEncoderScorer(str(model_dir))
    int8 = CrossEncoderScorer(str(model_dir), quantize="int8")
    fp32.warm_up()
    int8.warm_up()
    query = "What causes the tides in the ocean?"
    docs = passages(args.beir_dir, 50, fp32._model.tokenizer)

    for n in (20, 50):
        batch = docs[:n]
        pairs = [(query, d) for d in batch]
        for name, scorer in (("", fp32), ("/int8", int8)):
            reranker = Reranker(ScorerChoice(scorer))
            raw = scorer._model
            raw.predict(pairs, batch_size=scorer.batch_size, show_progress_bar=False)  # warm
            space_t, raw_t = [], []
            for _ in range(args.rounds):  # interleaved, so both see the same machine state
                t = time.perf_counter()
                reranker.run(query, batch, top_n=5)
                space_t.append(time.perf_counter() - t)
                t = time.perf_counter()
                raw.predict(pairs, batch_size=scorer.batch_size, show_progress_bar=False)
                raw_t.append(time.perf_counter() - t)
            report.add(
                f"rerank_ms/{n}{name}",
                1000 * median(space_t),
                "ms",
                "Reranker.run (parse, dedup, score, sort)" + (", target <= 600" if n == 20 else ""),
            )
            report.add(
                f"raw_predict_ms/{n}{name}", 1000 * median(raw_t), "ms", "CrossEncoder.predict on the same pairs"
            )
            report.add(f"overhead_ratio/{n}{name}", median(space_t) / median(raw_t), "ratio")
        report.add(
            f"kendall_tau_int8_vs_fp32/{n}",
            kendall(fp32.score(query, batch), int8.score(query, batch)),
            "tau",
            "random weights: a worst case",
        )

    answer_reader_speed(query, docs[:20], args.rounds, report)
    try:
        real = resolve("cross-encoder/ms-marco-MiniLM-L6-v2")
    except OSError as exc:
        real = None
        print(f"(real cross-encoder not available: {exc}; skipping its agreement and nDCG)", file=sys.stderr)
    if real:
        real_fp32, real_int8 = CrossEncoderScorer(real), CrossEncoderScorer(real, quantize="int8")
        report.add(
            "kendall_tau_int8_vs_fp32/real/20",
            kendall(real_fp32.score(query, docs[:20]), real_int8.score(query, docs[:20])),
            "tau",
        )
        report.add(
            "ndcg@10/hybrid+rerank", rerank_ndcg(args.beir_dir, real_fp32), "score", "top 100 hybrid hits reranked"
        )
    report.print()
    return 0


def answer_reader_speed(query: str, batch: list[str], rounds: int, report: Report) -> None:
    """The offline scorer as it ships (models/answer-reader, int8) and in fp32, interleaved."""
    from rag_rerank.scorers import AnswerReaderScorer

    scorers = {"shipped": AnswerReaderScorer(), "fp32": AnswerReaderScorer(precision="fp32")}
    times: dict[str, list[float]] = {k: [] for k in scorers}
    for s in scorers.values():
        s.warm_up()
        s.score(query, batch)
    for _ in range(rounds):
        for name, s in scorers.items():
            reranker = Reranker(ScorerChoice(s))
            t = time.perf_counter()
            reranker.run(query, batch, top_n=5)
            times[name].append(time.perf_counter() - t)
    n = len(batch)
    shipped = scorers["shipped"].model.precision
    report.add(
        f"rerank_ms/{n}/answer-reader",
        1000 * median(times["shipped"]),
        "ms",
        f"as served here ({shipped}); target <= 300",
    )
    report.add(f"rerank_ms/{n}/answer-reader-fp32", 1000 * median(times["fp32"]), "ms", "same run")
    # Why fp32 cannot reach the target on two cores: the arithmetic it must do, against what it ran at.
    gflop = encoder_gflop(scorers["fp32"].model, query, batch)
    report.add(f"gflop/{n}/answer-reader", gflop, "GFLOP", "matrix products of one Reranker.run")
    report.add(
        "gflops_per_s/answer-reader-fp32", gflop / median(times["fp32"]), "GFLOP/s", "achieved by fp32 in this run"
    )
    report.add(
        "gflops_per_s_needed/300ms", gflop / 0.3, "GFLOP/s", "for 300 ms; compare with the fp32 peak of the cores"
    )
    report.add(
        f"kendall_tau_{shipped}_vs_fp32/answer-reader/{n}",
        kendall(scorers["fp32"].score(query, batch), scorers["shipped"].score(query, batch)),
        "tau",
        "real weights, but no passage answers the query: near-tied scores, a worst case (retrieval_quality.py --rerank is the ranking test)",
    )


def encoder_gflop(model, query: str, batch: list[str]) -> float:
    """Multiply-adds x 2 of a BERT encoder over these pairs as the scorer tokenizes them: the four
    attention projections and the feed-forward per token and layer, plus the attention scores and
    their weighted sum per token pair (embeddings and the head are negligible)."""
    model.warm_up()
    tokenizer, net = model._loaded
    c = net.config
    lengths = [
        len(tokenizer(query, text, truncation="longest_first", max_length=model.max_length)["input_ids"])
        for text in batch
    ]
    per_token = 2 * c.num_hidden_layers * (4 * c.hidden_size**2 + 2 * c.hidden_size * c.intermediate_size)
    attention = 2 * c.num_hidden_layers * 2 * c.hidden_size * sum(t * t for t in lengths)
    return (per_token * sum(lengths) + attention) / 1e9


def rerank_ndcg(beir_dir: str, scorer: CrossEncoderScorer, depth: int = 100) -> float:
    from rag_retrieve.documents import Document
    from rag_retrieve.retriever import Retriever

    corpus, queries, qrels = load_beir(beir_dir)
    retriever = Retriever(index_dir=ROOT / ".cache" / "bench" / Path(beir_dir).name)
    if len(retriever.index) == 0:
        retriever.ingest(
            [Document(id=i, text=o["text"], source="corpus.jsonl", title=o.get("title", "")) for i, o in corpus.items()]
        )
    scores = []
    for qid, text in queries.items():
        hits = retriever.search(text, k=depth, mode="hybrid")
        s = scorer.score(text, [h.chunk.embed_text for h in hits])
        ranked, seen = [], set()
        for i in np.argsort(-s, kind="stable"):
            d = hits[i].chunk.doc_id
            if d not in seen:
                seen.add(d)
                ranked.append(d)
        scores.append(ndcg_at(ranked, qrels[qid]))
    return sum(scores) / len(scores)


if __name__ == "__main__":
    sys.exit(main())

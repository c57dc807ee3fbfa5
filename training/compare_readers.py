"""Two or more answer readers on the same questions, with a paired bootstrap of each difference.

    python training/compare_readers.py models/answer-reader CANDIDATE [--set validation --n 0]

`--set validation` (the default: the set a candidate is chosen on) reads the even articles from
train_reader's HELD_FROM_ARTICLE on, every question when `--n 0`; `--set held-out` the card's 300
odd-article questions (report there, never choose there). Each question is its gold paragraph and
2 others of its article, each sentence paired as that model's config says. The bootstrap resamples
questions (1,000 times, fixed seed) and gives a 90 % interval for each model's difference from the
first one: an interval that holds 0 is a difference the set cannot tell from noise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import train_reader as tr  # beside this script, which Python puts first on the path
from rag_contract.answer_model import load_model, model_context
from scipy.stats import rankdata


def question_scores(folder: Path, paragraphs: list[dict], n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(scores, labels) for each question, in eval_items' order."""
    tokenizer, model = load_model(folder)
    model.eval()
    items = tr.eval_items(paragraphs, n, seed, model_context(folder))
    pairs = [(it["question"], t, "sentence") for it in items for t, _ in it["cands"]]
    scores = tr.predict(model, tokenizer, pairs, {"sentence": 128, "passage": 256})
    out, pos = [], 0
    for it in items:
        k = len(it["cands"])
        out.append((scores[pos : pos + k], np.array([y for _, y in it["cands"]])))
        pos += k
    return out


def measures(per_question, idx) -> tuple[float, float]:
    """(sentence AUC pooled over the questions `idx`, share whose top sentence holds the answer)."""
    scores = np.concatenate([per_question[i][0] for i in idx])
    labels = np.concatenate([per_question[i][1] for i in idx])
    top1 = np.mean([per_question[i][1][int(np.argmax(per_question[i][0]))] for i in idx])
    # train_reader.auc's definition (ties count half), with scipy's ranks: a resample repeats many scores
    pos, ranks = labels == 1, rankdata(scores)
    auc = (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())
    return float(auc), float(top1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", type=Path, nargs="+")
    ap.add_argument("--set", choices=("validation", "held-out"), default="validation")
    ap.add_argument("--n", type=int, default=0, help="questions (0: every one of the set)")
    ap.add_argument("--seed", type=int, default=0, help="train_reader's --seed")
    ap.add_argument("--rounds", type=int, default=1000)
    args = ap.parse_args(argv)
    if args.set == "validation":
        paragraphs = [
            p for p in tr.load_paragraphs(tr.DATA / tr.DEV_FILE, "even") if p["article"] >= tr.HELD_FROM_ARTICLE
        ]
        seed = args.seed
    else:
        paragraphs, seed = tr.load_paragraphs(tr.DATA / tr.DEV_FILE, "odd"), args.seed + 1
    n = args.n or sum(len(p["qas"]) for p in paragraphs)
    runs = [question_scores(folder, paragraphs, n, seed) for folder in args.folders]
    rng = np.random.default_rng(0)
    draws = [rng.integers(0, len(runs[0]), len(runs[0])) for _ in range(args.rounds)]
    base = [measures(runs[0], d) for d in draws]
    print(f"{args.set}: {len(runs[0])} questions\n")
    print(
        "| model | AUC | top sentence holds the answer | AUC − first, 90 % | top-1 − first, 90 % |\n|---|---|---|---|---|"
    )
    for folder, run in zip(args.folders, runs):
        auc, top1 = measures(run, range(len(run)))
        diffs = np.array([np.subtract(measures(run, d), b) for d, b in zip(draws, base)])
        lo, hi = np.percentile(diffs, [5, 95], axis=0)
        print(f"| {folder} | {auc:.4f} | {top1:.3f} | {lo[0]:+.4f} … {hi[0]:+.4f} | {lo[1]:+.3f} … {hi[1]:+.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

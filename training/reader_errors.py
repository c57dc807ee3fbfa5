"""Where an answer reader's top sentence misses, on the model card's held-out questions.

    python training/reader_errors.py                     # the shipped model: ~2.5 min on 2 cores
    python training/reader_errors.py FOLDER --show 10    # another model, and 10 of its misses

The same questions as the card's "held out" row (the odd articles of qa_dev, each question against
its gold paragraph and 2 others of the same article, the same seed), each sentence paired the way
the model's config says. A miss is sorted by where the chosen sentence sits: beside the nearest
sentence that holds the answer, farther away in the same paragraph, or in another paragraph. It
tells what context a reader lacks: "the answer is in the next sentence" means it never saw it.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import train_reader as tr  # beside this script, which Python puts first on the path
from rag_contract.answer_model import load_model, model_context

KINDS = ("right", "the answer is in the next sentence", "the sentence after the answer", "same paragraph, farther",
         "another paragraph", "no sentence holds the answer")  # fmt: skip


def kind_of_choice(where: list[tuple[int, int]], labels: list[int], chosen: int) -> str:
    """Which of KINDS the chosen candidate is; `where` is (paragraph rank, sentence) with rank 0 the gold one."""
    if labels[chosen]:
        return KINDS[0]
    gold = [j for (rank, j), y in zip(where, labels) if y and rank == 0]
    if where[chosen][0] != 0:
        return KINDS[4]
    if not gold:
        return KINDS[5]
    offset = min((where[chosen][1] - j for j in gold), key=abs)
    return {-1: KINDS[1], 1: KINDS[2]}.get(offset, KINDS[3])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path, nargs="?", default=tr.ROOT / "models" / "answer-reader")
    ap.add_argument("--eval", type=int, default=300, help="held-out questions (the card uses 300)")
    ap.add_argument("--seed", type=int, default=0, help="train_reader's --seed (the card's questions use seed + 1)")
    ap.add_argument("--show", type=int, default=0, help="print this many misses")
    args = ap.parse_args(argv)
    tokenizer, model = load_model(args.folder)
    model.eval()
    held_out = tr.load_paragraphs(tr.DATA / tr.DEV_FILE, "odd")
    items = tr.eval_items(held_out, args.eval, args.seed + 1, model_context(args.folder))
    pairs = [(it["question"], t, "sentence") for it in items for t, _ in it["cands"]]
    scores = tr.predict(model, tokenizer, pairs, {"sentence": 128, "passage": 256})
    counts, misses, pos = Counter(), [], 0
    for it in items:
        n = len(it["cands"])
        chosen = int(np.argmax(scores[pos : pos + n]))
        pos += n
        kind = kind_of_choice(it["where"], [y for _, y in it["cands"]], chosen)
        counts[kind] += 1
        if kind != KINDS[0]:
            misses.append((kind, it["question"], it["cands"][chosen][0][:160]))
    print(f"{args.folder} ({model_context(args.folder)} context), {len(items)} held-out questions\n")
    print("| top sentence | questions |\n|---|---|")
    print("\n".join(f"| {k} | {counts[k]} |" for k in KINDS))
    for kind, question, text in misses[: args.show]:
        print(f"\n{kind}: {question}\n  chose: {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

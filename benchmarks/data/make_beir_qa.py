"""Writes a question-style BEIR folder from a SQuAD-form file: every paragraph of the chosen
articles is a document, sampled questions are the queries, each question's own paragraph its one
relevant document.

    python benchmarks/data/make_beir_qa.py [--file ../shared/data/qa_dev/squadshifts_new_wiki.json]
        [--split odd] [--n 300] [--seed 0] [--out .cache/bench/beir-qa_dev-odd]

Then: python benchmarks/retrieval_quality.py .cache/bench/beir-qa_dev-odd --rerank
The odd half of qa_dev is held out from the answer reader's training and the calibration.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--file", type=Path, default=ROOT.parent / "shared" / "data" / "qa_dev" / "squadshifts_new_wiki.json"
    )
    ap.add_argument("--split", choices=("all", "even", "odd"), default="odd")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = args.out or ROOT / ".cache" / "bench" / f"beir-{args.file.stem}-{args.split}"
    data = json.loads(args.file.read_text(encoding="utf-8"))["data"]
    corpus, questions = [], []
    for a, art in enumerate(data):
        if args.split != "all" and (a % 2 == 0) != (args.split == "even"):
            continue
        for p, para in enumerate(art["paragraphs"]):
            doc = f"a{a}p{p}"
            corpus.append({"_id": doc, "title": art.get("title", ""), "text": para["context"]})
            questions += [
                (qa["id"] if "id" in qa else f"{doc}q{k}", qa["question"], doc) for k, qa in enumerate(para["qas"])
            ]
    rng = random.Random(args.seed)
    chosen = rng.sample(questions, min(args.n, len(questions)))
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(d) + "\n" for d in corpus)
    with open(out / "queries.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"_id": q, "text": t}) + "\n" for q, t, _ in chosen)
    with open(out / "qrels" / "test.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        f.writelines(f"{q}\t{d}\t1\n" for q, _, d in chosen)
    print(f"wrote {out}: {len(corpus)} documents, {len(chosen)} queries")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

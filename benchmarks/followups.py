"""Follow-up questions: does retrieval find the gold paragraph when the subject is "it"?

    python benchmarks/followups.py [FILE.json] [--n N] [--seed 0] [--json]

From a SQuAD-format file (default ../shared/data/qa_dev), every paragraph is indexed by the retrieve
Space's own code (all-MiniLM-L6-v2 and BM25, hybrid, in process). Each case is two questions about
one article: a first question, and a second that names the article's subject, rewritten as a
follow-up with the subject replaced by "it"/"its" (or "they"/"their" for a plural title):
"What is the population of Shandong?" -> "What is the population of it?" (whole words only, so
"lenses" is not cut to "theyes" by the title "Lens"). Every such pair is used unless --n says
fewer; the seed picks each pair's first question. Reports the share whose
gold paragraph is in the top 5 for (over all pairs, and over the pairs whose first question names
the subject, so that a person could tell what "it" is):
  original        the second question as written, alone
  followup_names  the follow-up after the first question, searched with the first question's
                  names only (no topic): the design before this benchmark's target was met
  followup_alone  the follow-up alone: what the pipeline searched with before it read the history
  followup_after  the follow-up after the first question, as RAGPipeline.stream searches it: the
                  first question is searched for its topic (pipeline.followups.topic: the title of its
                  best passage), then each of pipeline.followups.search_queries, fused by fuse_rankings
Targets: followup_after >= original - 0.05; followup_alone no better than before (the history
must be what helps).
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import re
import sys
import urllib.parse
from pathlib import Path

from _common import ROOT, Report

from pipeline.followups import earlier_questions, search_queries, topic  # noqa: E402
from pipeline.rag import fuse_rankings  # noqa: E402

DEFAULT_FILE = ROOT.parent / "shared" / "data" / "qa_dev" / "squadshifts_new_wiki.json"


def subject(title: str) -> str:
    t = urllib.parse.unquote(title).replace("_", " ")
    return re.sub(r"\s*\(.*?\)\s*", " ", t).strip()


def as_followup(question: str, subj: str) -> str | None:
    """The question with its subject replaced by a pronoun; None when it does not name the subject."""
    plural = subj.endswith("s") and not subj.endswith("ss")
    it, its = ("they", "their") if plural else ("it", "its")
    pattern = re.compile(rf"\b(the\s+)?{re.escape(subj)}('s|’s|\b)", re.I)
    m = pattern.search(question)
    if not m:
        return None
    return pattern.sub(lambda mm: its if mm.group(2) else it, question, count=1)


def cases(path: Path, n: int, seed: int) -> tuple[list[dict], list[tuple[str, str]]]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    docs, out = [], []
    rng = random.Random(seed)
    for a, art in enumerate(data):
        subj = subject(art["title"])
        qs = []
        for p, para in enumerate(art["paragraphs"]):
            docs.append((f"a{a}p{p}", para["context"], subj))
            qs += [(p, qa["question"]) for qa in para["qas"]]
        for p, q in qs:
            f = as_followup(q, subj)
            if f is None:
                continue
            firsts = [q1 for p1, q1 in qs if p1 != p]
            if firsts:
                first = rng.choice(firsts)
                out.append(
                    {
                        "gold": f"a{a}p{p}",
                        "original": q,
                        "followup": f,
                        "first": first,
                        "named": subj.lower() in first.lower(),
                    }
                )
    rng.shuffle(out)
    return (out[:n] if n else out), docs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", nargs="?", default=str(DEFAULT_FILE))
    ap.add_argument("--n", type=int, default=0, help="how many follow-ups (default 0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from rag_retrieve.documents import Document
    from rag_retrieve.retriever import Retriever

    path = Path(args.file)
    items, paras = cases(path, args.n, args.seed)
    # Each paragraph keeps its article's title, as a file keeps its name when it is uploaded.
    retriever = Retriever(index_dir=ROOT / ".cache" / "bench" / f"followups-{path.stem}-titled")
    if len(retriever.index) == 0:
        retriever.ingest([Document(id=i, text=t, source="qa", title=title) for i, t, title in paras])

    @functools.cache
    def search(query: str, k: int = 20) -> list[dict]:
        return [{"id": h.chunk.doc_id, "title": h.chunk.title} for h in retriever.search(query, k=k, mode="hybrid")]

    def top5(queries: list[str], gold: str) -> bool:
        # As RAGPipeline.stream does: one search per query, fused, the best five kept.
        return gold in {r["id"] for r in fuse_rankings([search(q) for q in queries])[:5]}

    def after(question: str, history: list) -> list[str]:
        context = earlier_questions(question, history)
        return search_queries(question, history, about=topic(search(" ".join(context), 1) if context else []))

    report = Report(
        f"Follow-up retrieval ({path.name}, {len(paras)} paragraphs, {len(items)} follow-ups, seed {args.seed})",
        args.json,
    )
    for group, chosen in (("all", items), ("first_names_subject", [it for it in items if it["named"]])):
        hits = {"original": 0, "followup_alone": 0, "followup_names": 0, "followup_after": 0}
        for it in chosen:
            hits["original"] += top5([it["original"]], it["gold"])
            hits["followup_alone"] += top5(search_queries(it["followup"], []), it["gold"])
            hits["followup_names"] += top5(search_queries(it["followup"], [[it["first"], ""]]), it["gold"])
            hits["followup_after"] += top5(after(it["followup"], [[it["first"], ""]]), it["gold"])
        n = len(chosen)
        report.add(f"top5/original/{group}", hits["original"] / n, "ratio", f"n={n}; the question as written")
        report.add(
            f"top5/followup_alone/{group}",
            hits["followup_alone"] / n,
            "ratio",
            "subject replaced by a pronoun, no history",
        )
        report.add(
            f"top5/followup_names/{group}",
            hits["followup_names"] / n,
            "ratio",
            "after the first question, its names only (no topic): the design before",
        )
        report.add(
            f"top5/followup_after/{group}",
            hits["followup_after"] / n,
            "ratio",
            "the same after the first question; target >= original - 0.05",
        )
        report.add(f"gap/{group}", hits["followup_after"] / n - hits["original"] / n, "ratio", "after - original")
    example = items[0]
    report.add(
        "example",
        0,
        "-",
        f"{example['first']!r} then {example['followup']!r} searches {after(example['followup'], [[example['first'], '']])!r}",
    )
    report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

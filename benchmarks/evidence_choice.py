"""Which source sentence holds the answer? The cap on grounded answers, measured without a model.

    .venv/bin/python benchmarks/evidence_choice.py [--split even|odd] [--n 300] [--json]
    .venv/bin/python benchmarks/evidence_choice.py --mode pipeline [--split even|odd] [--n 150]

The generate Space shows the user one source sentence (the model's, when it checks out, else
the best match). So "correct" cannot exceed how often the best-matching sentence holds a gold
answer. For reader items (gold paragraph + two others of the same article, as in
answer_quality.py), this prints that rate for the scorer in use (BM25 over sentences, with
questions and headings as cues, then BM25 + MiniLM over its best six) and for alternatives:
BM25 alone, MiniLM cosine alone, BM25 + MiniLM fused by z-scores over every sentence, an
answer-type prior, and the best two sentences (an upper bound for showing two).
`--mode pipeline` takes the sources from hybrid retrieval instead (every paragraph of the split
indexed in process with the retrieve Space's own code, top 5; the offline reranker keeps that
order), as in answer_quality.py's pipeline mode, without the model.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import sys
import time

import numpy as np
from _common import ROOT, Report, machine
from rag_generate.evidence import score_sentences, words  # noqa: E402
from rag_generate.prompts import Source  # noqa: E402

QA = ROOT.parent / "shared" / "data" / "qa_dev" / "squadshifts_new_wiki.json"
YEAR = re.compile(
    r"\b(1[5-9]\d\d|20\d\d)s?\b|\b(January|February|March|April|May|June|July|August|September|October|November|December)\b"
)
NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion|dozen)\b", re.I
)


def normalize(text: str) -> str:
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def answer_type_fits(question: str, sentence: str) -> bool:
    q = question.lower()
    if re.search(r"\b(when|what year|which year|what date|what century)\b", q):
        return bool(YEAR.search(sentence))
    if re.search(r"\bhow (many|much|long|old|far)\b|\bwhat (percentage|percent|number|amount)\b", q):
        return bool(NUMBER.search(sentence))
    if re.search(r"\bwho(m|se)?\b", q):
        asked = {w.lower() for w in words(question)}
        return any(w[0].isupper() and w.lower() not in asked for w in words(sentence)[1:])
    return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("reader", "pipeline"), default="reader")
    ap.add_argument("--split", choices=("even", "odd"), default="odd")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from rag_retrieve.embedder import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    embedder.warm_up()
    data = json.loads(QA.read_text())["data"]
    articles = [a for i, a in enumerate(data) if (i % 2 == 0) == (args.split == "even")]
    rng = random.Random(args.seed)
    items = [(a, pi, qa) for a in articles for pi, p in enumerate(a["paragraphs"]) for qa in p["qas"]]
    rng.shuffle(items)
    items = items[: args.n]
    retriever = None
    if args.mode == "pipeline":
        from rag_retrieve.documents import Document
        from rag_retrieve.retriever import Retriever

        retriever = Retriever(index_dir=ROOT / ".cache" / "bench" / f"evidence-{args.split}-index", embedder=embedder)
        if len(retriever.index) == 0:
            retriever.ingest(
                [
                    Document(id=f"a{a}p{p}", text=para["context"], source="qa.jsonl", title=art["title"])
                    for a, art in enumerate(articles)
                    for p, para in enumerate(art["paragraphs"])
                ]
            )
    from rag_generate.embedder import EvidenceEmbedder
    from rag_generate.sentence_reader import SentenceReader

    evidence = EvidenceEmbedder()
    reader = SentenceReader()
    times: dict[str, list[float]] = {"reader": [], "in_use": []}
    hits = {k: 0 for k in ("reader", "in_use", "bm25", "minilm", "bm25+minilm", "bm25+type", "bm25_top2", "any")}
    for art, pi, qa in items:
        if retriever is not None:
            sources = [Source(text=h.chunk.text) for h in retriever.search(qa["question"], k=5, mode="hybrid")]
        else:
            paras = art["paragraphs"]
            picks = rng.sample([i for i in range(len(paras)) if i != pi], min(2, len(paras) - 1)) + [pi]
            rng.shuffle(picks)
            sources = [Source(text=paras[i]["context"]) for i in picks]
        sents = score_sentences(qa["question"], sources)
        if not sents:
            continue
        golds = [normalize(a["text"]) for a in qa["answers"]]

        def hit(i: int) -> bool:
            return any(g in normalize(sents[i].text) for g in golds)

        bm = np.array([s.score for s in sents])
        vec = embedder.embed([qa["question"]] + [s.text for s in sents])
        cos = vec[1:] @ vec[0]

        def z(x):
            return (x - x.mean()) / (x.std() + 1e-9)

        typed = bm * (1 + 0.25 * np.array([answer_type_fits(qa["question"], s.text) for s in sents]))
        t = time.perf_counter()
        fused = score_sentences(qa["question"], sources, similarity=evidence.similarity)
        times["in_use"].append(time.perf_counter() - t)
        t = time.perf_counter()
        read = score_sentences(qa["question"], sources, reader=reader.score)
        times["reader"].append(time.perf_counter() - t)
        hits["reader"] += hit(int(np.argmax([x.score for x in read])))
        hits["in_use"] += hit(int(np.argmax([x.score for x in fused])))
        hits["bm25"] += hit(int(bm.argmax()))
        hits["minilm"] += hit(int(cos.argmax()))
        hits["bm25+minilm"] += hit(int((z(bm) + z(cos)).argmax()))
        hits["bm25+type"] += hit(int(typed.argmax()))
        hits["bm25_top2"] += any(hit(int(i)) for i in np.argsort(-bm)[:2])
        hits["any"] += any(hit(i) for i in range(len(sents)))
    report = Report(
        f"Best sentence holds a gold answer ({args.mode} items, split={args.split}, n={len(items)}; {machine()})",
        args.json,
    )
    notes = {
        "reader": "in use: the answer reader (models/answer-reader, int8) reads every sentence",
        "in_use": "before it (and without it): BM25, then BM25 + MiniLM z-scores over its best six",
        "bm25": "BM25 over sentences, neighbours, question/heading cues (GENERATE_EVIDENCE_EMBEDDER=none)",
        "minilm": "all-MiniLM-L6-v2 cosine alone",
        "bm25+minilm": "z-score sum of the two",
        "bm25+type": "x1.25 when the sentence has the asked type (date, number, name)",
        "bm25_top2": "either of the best two (bound for showing two sentences)",
        "any": "some sentence of the sources (bound for any choice)",
    }
    for k, v in hits.items():
        report.add(f"top1/{k}", v / len(items), "ratio", notes[k])
    for k, v in times.items():
        report.add(
            f"choose_ms_p50/{k}", 1000 * float(np.median(v)), "ms", "scoring every sentence of the sources, same run"
        )
    report.add(
        "reader_adds_ms_p50",
        1000 * float(np.median(np.array(times["reader"]) - np.array(times["in_use"]))),
        "ms",
        "per question, over the path it replaces; target <= 150",
    )
    report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

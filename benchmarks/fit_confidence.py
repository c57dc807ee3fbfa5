"""Fit the answer confidence (rag_generate/confidence.py) and write rag_generate/calibration.json.

    python benchmarks/fit_confidence.py [FILE.json] [--split calib] [--n 500] [--n-no-answer 150]
        [--n-pipeline 0] [--pipeline-only] [--risk 0.05] [--miss 0.03] [--write] [--json]

Runs the generate Space's own /answer code (GenerateAPI.answer, the model it would load, greedy)
on questions of the development half (--split even: every other article of the QA set), and
records the signals of the sentence the user would read, with a label: does that sentence hold a
gold answer. Two kinds of case:
  answerable   the question with its gold paragraph and two others of its article (reader mode)
  no-answer    the question with three paragraphs of another article: the label is always 0
  pipeline     (--n-pipeline) the question with the passages the pipeline would send, from retrieval
               over every article of the development half
Rows are cached in .cache/bench/, so refitting costs seconds; they are written as they come (a
.partial file), so a collection that was stopped resumes where it stopped.

For each set of signals the Space may have (all; no embedder; no model, as the extractive
backend; neither) it fits a logistic regression (scikit-learn), then chooses, from out-of-fold
predictions (5 folds, so no threshold is chosen on predictions for its own training rows):
  answer threshold   the lowest (most coverage) at which wrong answers among the committed ones
                     are <= --risk at the one-sided 95 % Wilson upper bound (at least 20
                     committed): a risk estimated on a few hundred questions is noisy, and a
                     threshold set at the estimate itself is exceeded on new questions half the time
  likely threshold   the highest at which answerable questions whose sentence holds the answer
                     fall to not_found <= --miss of all answerable questions, at the same upper
                     bound: at the estimate itself (the rule until the thirteenth session) 0.029
                     out of fold became 0.040 held out
--pipeline-only refits the pipeline model alone and keeps the others from calibration.json; the
command the file records, run without it, remakes the whole file. --n-pipeline 0 refits the reader
models and keeps the pipeline's; the file's kept_from_before says which fit made each kept model.
--write writes calibration.json; without it the table is printed only. Report held-out figures
with benchmarks/answer_quality.py --split odd, never these.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from _common import ROOT, Report, machine
from answer_quality import DEFAULT_FILE, has_gold, load_items, no_answer_cases, reader_cases

OUT = ROOT / "spaces" / "generate" / "rag_generate" / "calibration.json"
POINTER = (
    "pointer_agrees",
    "pointer_support",
    "pointer_numbers_ok",
    "abstained",
    "model_in_sentence",
    "model_answer_in_sentence",
)
EMBEDDER = ("cosine", "cosine_margin")
# Without the embedder, the lexical model decides, whether a model read the sources or not: on the
# development half the pointer did not add to the lexical signals (AUC 0.79 without the embedder,
# 0.79 lexical), and a separate model for it never reached the stated risk.
SETS = {"full": (), "no_model": POINTER, "lexical": EMBEDDER + POINTER}
# With the answer reader (the default since it ships), the reader replaces the embedder: rows carry
# reader_* signals and no cosine. Its models come first in calibration.json; the reader-less ones
# above are kept from the file as they were fitted (the path without the reader is unchanged).
READER = ("reader_logit", "reader_margin", "reader_others_logit")
# Bump when evidence.reader_signals changes meaning: cached rows hold the old values.
# 2: a sentence that agrees with the shown one (evidence.agrees) is not its competitor.
READER_SIGNALS = "s2"
# Bump when a pipeline-only signal or the pipeline rows' setting changes (reader rows hold none).
# 2: the rank of a better-ranked source that states the same answer stands for the candidate's.
# 3: retrieval searches every development article (20), not only the calibration ones (6).
PIPELINE_SIGNALS = "p3"
READER_SETS = {"reader": (), "reader_no_model": POINTER}


def pipeline_cases(articles, items, split: str) -> Iterator[tuple[dict, list[dict], str]]:
    """Each question with the passages the pipeline would send: hybrid retrieval's top 20 among every
    paragraph of `articles`, reranked by the rerank Space's own `Reranker` (offline: the project's answer
    cross-encoder fused with the retrieval score; with none, the retrieval order stays), top 5, with their
    retrieval scores (the rerank table keeps the score column)."""
    from rag_rerank.reranker import Reranker
    from rag_rerank.scorers import load_scorer
    from rag_retrieve.documents import Document
    from rag_retrieve.retriever import Retriever

    retriever = Retriever(index_dir=ROOT / ".cache" / "bench" / f"confidence-{split}-index")
    if len(retriever) == 0:
        retriever.ingest(
            [
                Document(id=f"a{a}p{p}", text=para["context"], source="qa.jsonl", title=art["title"])
                for a, art in enumerate(articles)
                for p, para in enumerate(art["paragraphs"])
            ]
        )
    choice = load_scorer()
    reranker = Reranker(choice) if choice.scorer is not None else None
    try:  # one question at a time, so a resumed collection reranks only what it has not answered
        for it in items:
            hits = retriever.search(it["question"], k=20, mode="hybrid")
            docs = [{"id": h.chunk.id, "text": h.chunk.text, "title": h.chunk.title, "score": h.score} for h in hits]
            if reranker is not None and docs:  # as the Space reranks: fused with the retrieval score
                result = reranker.run(it["question"], docs, top_n=5)
                docs = [dict(zip(result.headers, r)) for r in result.rows]
                docs = [{k: d[k] for k in ("id", "text", "title", "score")} for d in docs]
            yield it, docs[:5], ""
    finally:
        retriever.close()


def reader_tag() -> str:
    """Rows depend on the answer reader's weights: a new model gets new rows."""
    import os

    from rag_contract.answer_model import card_hash, find_model_dir

    folder = find_model_dir()
    off = os.environ.get("GENERATE_ANSWER_READER", "").lower() in ("none", "off")
    return "" if folder is None or off else f"-reader-{card_hash(folder)[:8]}-{READER_SIGNALS}"


def collect(path: Path, split: str, n: int, n_no: int, seed: int, mode: str = "reader") -> list[dict]:
    tag = ("" if mode == "reader" else f"-{mode}") + reader_tag() + ("" if mode == "reader" else f"-{PIPELINE_SIGNALS}")
    cache = ROOT / ".cache" / "bench" / f"confidence{tag}-{path.stem}-{split}-{n}-{n_no}-{seed}.jsonl"
    if cache.exists():
        return [json.loads(line) for line in cache.read_text().splitlines()]
    # Rows are appended as they come: an interrupted collection (an hour or more on 2 cores) resumes.
    partial = cache.with_suffix(".partial")
    done = []
    for line in partial.read_text().splitlines() if partial.exists() else []:
        try:
            done.append(json.loads(line))
        except json.JSONDecodeError:  # the last row, half written when the run was stopped
            break
    if partial.exists():  # the rows kept, whole, so new ones follow them
        partial.write_text("".join(json.dumps(r) + "\n" for r in done))
    from rag_generate.api import GenerateAPI

    if mode == "pipeline":
        _, items = load_items(path, split, n, seed)
        # The questions are the calibration articles'; retrieval searches every article of the development
        # half, as many as the held-out half has (20): with only the 6 calibration articles indexed, the
        # passages sent were easier to tell apart than through a corpus of a real size.
        searched = "even" if split == "calib" else split
        articles, _ = load_items(path, searched, 0, seed)
        total = len(items)
        cases = (("answerable", *c) for c in pipeline_cases(articles, items[len(done) :], searched))
    else:
        articles, items = load_items(path, split, n + n_no, seed)
        every = [("answerable", *c) for c in reader_cases(articles, items[:n], seed)] + [
            ("no_answer", *c) for c in no_answer_cases(articles, items[n:], seed)
        ]
        total, cases = len(every), iter(every[len(done) :])
    if done:
        print(f"  resuming {partial.name}: {len(done)}/{total} rows collected before", file=sys.stderr)
    api = GenerateAPI()
    api.backends = [api.llama]
    rows, t0 = list(done), time.time()
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(partial, "a", encoding="utf-8") as out:
        for kind, it, docs, _gold in cases:
            rows.append(answer_row(api, kind, it, docs))
            out.write(json.dumps(rows[-1]) + "\n")
            out.flush()
            if len(rows) % 50 == 0:
                print(f"  {len(rows)}/{total} in {time.time() - t0:.0f} s", file=sys.stderr)
    partial.replace(cache)
    return rows


def answer_row(api, kind: str, it: dict, docs: list[dict]) -> dict:
    """The generate Space's answer to one question, as a calibration row: its signals and the label."""
    *_, (text, info) = api.answer(it["question"], docs, [], None, 0.0, 0.95, 40)
    g = info["grounding"]
    return {
        "kind": kind,
        "question": it["question"],
        "label": int(kind == "answerable" and has_gold(g["candidate"], it["golds"])),
        "signals": g["signals"],
        "confidence": info["confidence"],
        "verdict": info["verdict"],
        "candidate": g["candidate"],
        "golds": it["golds"],
        "model_text": g["model_text"],
    }


# Strong regularisation: 800 rows, ~20 correlated signals. On the development half's out-of-fold
# predictions C=0.1 ranked answerable questions best (AUC 0.80; 0.79 at C=1, 0.78 at C=10), and
# neither degree-2 terms (0.74), splines (0.78) nor gradient boosting (0.77) did better.
C = 0.1


def out_of_fold(X: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    p = np.zeros(len(y))
    for train, test in StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)).fit(X[train], y[train])
        p[test] = model.predict_proba(X[test])[:, 1]
    return p


def roc_auc(p: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(y, p) if 0 < y.sum() < len(y) else float("nan")


def upper_bound(wrong: int, n: int, z: float) -> float:
    """Wilson score upper bound of a rate: `wrong` of `n`, `z` standard deviations."""
    if n == 0:
        return 1.0
    r = wrong / n
    centre = r + z * z / (2 * n)
    spread = z * np.sqrt(r * (1 - r) / n + z * z / (4 * n * n))
    return float((centre + spread) / (1 + z * z / n))


def thresholds(
    p: np.ndarray, y: np.ndarray, answerable: np.ndarray, risk: float, miss: float, z: float = 1.645
) -> tuple[float, float]:
    """(answer, likely) thresholds: see the module docstring."""
    answer = 1.0  # the lowest threshold (most coverage) whose risk, at its upper bound, is <= `risk`
    for t in sorted(set(np.round(p, 4)), reverse=True):
        committed = p >= t
        if committed.sum() >= 20 and upper_bound(int((1 - y[committed]).sum()), int(committed.sum()), z) <= risk:
            answer = float(t)
    # the highest threshold whose held answers sent to not_found, at their upper bound, are <= `miss`
    likely = 0.0
    n_answerable = int(answerable.sum())
    for t in sorted(set(np.round(p, 4))):
        if upper_bound(int(((p < t) & (y == 1) & answerable).sum()), n_answerable, z) > miss:
            break
        likely = float(t)
    return answer, min(likely, answer)


def fit(rows: list[dict], risk: float, miss: float, seed: int, report: Report, sets: dict = SETS) -> list[dict]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    y_all = np.array([r["label"] for r in rows])
    answerable_all = np.array([r["kind"] == "answerable" for r in rows])
    full = sorted({f for r in rows for f in r["signals"]})
    models = []
    for name, drop in sets.items():
        feats = [f for f in full if f not in drop]
        # A row without every signal (the reader's are missing when the candidate is not the
        # reader's best) cannot train this model; the verdict there comes from a leaner one.
        have = np.array([all(f in r["signals"] for f in feats) for r in rows])
        if not have.all():
            report.add(f"{name}/rows_without_signals", float((~have).sum()), "rows", "left out of this model")
        sub = [r for r, h in zip(rows, have) if h]
        y, answerable = y_all[have], answerable_all[have]
        X = np.array([[r["signals"][f] for f in feats] for r in sub], dtype=float)
        p = out_of_fold(X, y, seed)
        t_answer, t_likely = thresholds(p, y, answerable, risk, miss)
        scaler = StandardScaler().fit(X)
        lr = LogisticRegression(C=C, max_iter=2000).fit(scaler.transform(X), y)
        committed = p >= t_answer
        nf = p < t_likely
        report.add(
            f"{name}/coverage", committed[answerable].mean(), "ratio", "answer, answerable questions (out of fold)"
        )
        report.add(
            f"{name}/risk",
            float((1 - y[committed]).sum() / max(committed.sum(), 1)),
            "ratio",
            f"wrong among answer; its upper 95 % bound chosen <= {risk}",
        )
        report.add(
            f"{name}/auc_answerable",
            float(roc_auc(p[answerable], y[answerable])),
            "score",
            "how well the confidence ranks answerable questions",
        )
        report.add(
            f"{name}/not_found_but_holds",
            float((nf & (y == 1) & answerable).sum() / answerable.sum()),
            "ratio",
            f"its upper 95 % bound chosen <= {miss}",
        )
        report.add(
            f"{name}/no_answer_not_found",
            float(nf[~answerable].mean()) if (~answerable).any() else float("nan"),
            "ratio",
            "no-answer set",
        )
        report.add(f"{name}/thresholds", 0, "-", f"answer >= {t_answer:.3f}, likely >= {t_likely:.3f}")
        models.append(
            {
                "name": name,
                "features": feats,
                "mean": [round(float(v), 6) for v in scaler.mean_],
                "scale": [round(float(v), 6) for v in scaler.scale_],
                "coef": [round(float(v), 6) for v in lr.coef_[0]],
                "intercept": round(float(lr.intercept_[0]), 6),
                "thresholds": {"answer": round(t_answer, 4), "likely": round(t_likely, 4)},
            }
        )
    return models


# The order the Space tries them in: the first whose signals the answer has decides.
PIPELINE_MODELS = ("reader_pipeline", "pipeline")
ORDER = [*PIPELINE_MODELS, *READER_SETS, *SETS]


def keep(earlier: dict, names: set[str]) -> tuple[list[dict], list[dict] | None]:
    """The models of the earlier calibration.json named in `names`, as they were fitted, and a record
    of the fit behind each (its questions, command and likely rule), so the file says what it holds."""
    kept = [m for m in earlier["models"] if m["name"] in names]
    records = earlier.get("kept_from_before") or []
    records = [records] if isinstance(records, dict) else records  # one record, before the thirteenth session
    records = [r for r in records if set(r["models"]) & names]
    for r in records:  # a record without its rule predates the thirteenth session's
        r.setdefault(
            "likely", "not_found while the sentence holds the answer <= the --miss it names, at the estimate itself"
        )
    recorded = {n for r in records for n in r["models"]}
    fresh = [m["name"] for m in kept if m["name"] not in recorded]
    if fresh:  # fitted by the earlier file's own command
        records.append(
            {
                "models": fresh,
                "fitted_on": earlier.get("fitted_on"),
                "command": earlier.get("command"),
                "likely": earlier.get("stated_risk", {}).get("likely"),
            }
        )
    return kept, records or None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", nargs="?", default=str(DEFAULT_FILE))
    ap.add_argument("--split", choices=("all", "even", "odd", "calib"), default="calib")
    ap.add_argument("--n", type=int, default=500, help="answerable questions")
    ap.add_argument("--n-no-answer", type=int, default=150, help="questions asked against another article")
    ap.add_argument(
        "--risk", type=float, default=0.05, help="most wrong answers among `answer` (upper 95 %% bound on this half)"
    )
    ap.add_argument(
        "--miss",
        type=float,
        default=0.03,
        help="most answerable questions whose sentence holds the answer but get not_found",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--n-pipeline",
        type=int,
        default=0,
        help="questions asked as the pipeline asks them (hybrid top 20, reranked, top 5, with scores): fits the "
        "`reader_pipeline` model (`pipeline` without the reader), first in the file, "
        "which reads where retrieval ranked the candidate's source",
    )
    ap.add_argument("--write", action="store_true", help="write rag_generate/calibration.json")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--pipeline-only",
        action="store_true",
        help="refit only the pipeline model; keep the others from calibration.json (their rows are not collected)",
    )
    args = ap.parse_args()
    path = Path(args.file)
    if args.pipeline_only and not args.n_pipeline:
        ap.error("--pipeline-only needs --n-pipeline N")
    earlier = json.loads(OUT.read_text()) if OUT.exists() else {"models": []}
    rows = [] if args.pipeline_only else collect(path, args.split, args.n, args.n_no_answer, args.seed)
    read = reader_tag() != "" if args.pipeline_only else any(READER[0] in r["signals"] for r in rows)
    report = Report(
        f"Answer confidence, fitted on {path.name} split={args.split} ({len(rows)} cases; out-of-fold figures)",
        args.json,
    )
    if args.pipeline_only:
        models, keep_names = [], {m["name"] for m in earlier["models"]} - set(PIPELINE_MODELS)
    else:
        report.add(
            "base_rate",
            float(np.mean([r["label"] for r in rows if r["kind"] == "answerable"])),
            "ratio",
            "the shown sentence holds a gold answer (answerable)",
        )
        models = fit(rows, args.risk, args.miss, args.seed, report, sets=READER_SETS if read else SETS)
        # with the reader, the reader-less models as they were fitted (the path without it is unchanged)
        keep_names = {m["name"] for m in earlier["models"] if read and not m["name"].startswith("reader")}
        if not args.n_pipeline:  # the pipeline's model, kept rather than dropped, when its rows are not asked for
            keep_names.add(PIPELINE_MODELS[0] if read else PIPELINE_MODELS[1])
    if args.n_pipeline:
        piped = collect(path, args.split, args.n_pipeline, 0, args.seed, mode="pipeline")
        report.add("pipeline/base_rate", float(np.mean([r["label"] for r in piped])), "ratio", "pipeline rows")
        name = PIPELINE_MODELS[0] if read else PIPELINE_MODELS[1]
        models += fit(piped, args.risk, args.miss, args.seed, report, sets={name: ()})
    kept, kept_from = keep(earlier, keep_names)
    models = sorted(models + kept, key=lambda m: ORDER.index(m["name"]))
    report.print()
    if args.write:
        OUT.write_text(
            json.dumps(
                {
                    "fitted_on": f"{path.name}, split={args.split}, {args.n} answerable + {args.n_no_answer} no-answer questions "
                    f"(reader), {args.n_pipeline} through retrieval (pipeline), seed {args.seed}",
                    "stated_risk": {
                        "answer": f"wrong among answer <= {args.risk} at the one-sided 95 % Wilson upper bound (out of fold, development half)",
                        "likely": f"answerable questions whose sentence holds the answer sent to not_found <= {args.miss} "
                        "at the one-sided 95 % Wilson upper bound (out of fold, development half)",
                    },
                    "command": f"python benchmarks/fit_confidence.py --split {args.split} --n {args.n} --n-no-answer "
                    f"{args.n_no_answer} --n-pipeline {args.n_pipeline} --risk {args.risk} --miss {args.miss} --write",
                    "machine": machine(),
                    "kept_from_before": kept_from,
                    "models": models,
                },
                indent=1,
            )
            + "\n"
        )
        print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

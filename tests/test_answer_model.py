"""The project's answer cross-encoder (models/answer-reader): the shipped file is the one its card
describes, it reads answers (real weights, real questions), the generate Space chooses and grades
with it, the rerank Space falls back to it, and the training script still runs end to end."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from rag_contract.answer_model import (
    WEIGHTS,
    AnswerCrossEncoder,
    auto_precision,
    card_hash,
    file_hash,
    find_model_dir,
    load_model,
    model_context,
    neighbours,
    pair_text,
    precision_for,
    quantize_int8,
)

from tests.conftest import ROOT

MODEL = ROOT / "models" / "answer-reader"
DATA = ROOT.parent / "shared" / "data"


def served(sentences: list[str]) -> list[str]:
    """Each sentence of one passage paired as the generate Space pairs it for the shipped model."""
    context = model_context(MODEL)
    return [pair_text(s, *neighbours(sentences, k, context)) for k, s in enumerate(sentences)]


def test_the_shipped_weights_are_the_ones_the_card_names():
    assert find_model_dir() == MODEL
    expected = card_hash(MODEL)
    assert len(expected) == 64, "the model card states no sha256"
    assert file_hash(MODEL / WEIGHTS) == expected
    assert (MODEL / WEIGHTS).stat().st_size <= 30 * 1024 * 1024
    card = (MODEL / "README.md").read_text()
    for needed in ("training/train_reader.py", "Seed", "Machine", "Held out", "Apache-2.0", "CC BY 4.0"):
        assert needed in card, needed


def test_a_damaged_file_is_refused_with_the_fix(tmp_path):
    import shutil

    copy = tmp_path / "answer-reader"
    shutil.copytree(MODEL, copy)
    data = bytearray((copy / WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (copy / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(OSError, match="does not match the SHA-256 in its model card.*restore it"):
        load_model(copy)


@pytest.fixture(scope="module")
def reader():
    model = AnswerCrossEncoder()
    model.warm_up()
    return model


BRIDGE = [
    "The Lune Bridge was designed by the engineer Maria Holt.",
    "Construction began in 1884, and the bridge opened to traffic in 1887.",
    "It crosses the river at its widest point.",
    "In 1990 it was painted green.",
]


@pytest.mark.parametrize(
    "question, answer",
    [
        ("When did the Lune Bridge open?", 1),
        ("Who designed the Lune Bridge?", 0),
        ("What colour is the bridge painted?", 3),
    ],
)
def test_the_reader_picks_the_sentence_that_holds_the_answer(reader, question, answer):
    texts = served(BRIDGE)
    scores = reader.score(question, texts)
    assert int(np.argmax(scores)) == answer, scores
    assert scores[answer] > 0.5


def test_auto_serves_bf16_on_amx_and_fp32_elsewhere():
    assert auto_precision(frozenset({"avx2", "avx512f", "amx_bf16"})) == "bf16"
    assert auto_precision(frozenset({"avx2", "fma"})) == "fp32"
    assert AnswerCrossEncoder().precision == auto_precision()


def test_the_quantize_settings_choose_the_precision_and_say_it():
    from rag_generate.sentence_reader import SentenceReader

    assert precision_for("none") == precision_for("") == "auto" and precision_for(" INT8 ") == "int8"
    with pytest.raises(ValueError, match="one of none, int8, but got 'fp8'"):
        precision_for("fp8")
    served = SentenceReader(quantize="none")
    assert served.available and served.label.endswith(f"{auto_precision()})")
    assert SentenceReader(quantize="int8").label.endswith("int8)")


def test_int8_keeps_one_weight_scale_per_output_channel():
    import torch

    layer = quantize_int8(load_model(MODEL)[1]).bert.encoder.layer[0].intermediate.dense
    assert layer.weight().qscheme() == torch.per_channel_affine  # one scale per tensor lost 0.011 AUC


@pytest.mark.parametrize("precision", ["int8", "bf16"])
def test_int8_and_bf16_read_as_fp32_does(reader, precision):
    fp32 = reader if reader.precision == "fp32" else AnswerCrossEncoder(precision="fp32")
    other = AnswerCrossEncoder(precision=precision)
    texts = served(BRIDGE)
    for question in ("When did the Lune Bridge open?", "Who designed the Lune Bridge?", "Which team won in 1998?"):
        want, got = fp32.score(question, texts), other.score(question, texts)
        assert np.abs(got - want).max() < 0.05, (question, want, got)
        if want.max() > 0.5:  # the unrelated question's scores are all near 0, their order is noise
            assert int(np.argmax(got)) == int(np.argmax(want)), (question, want, got)


def test_the_reader_does_not_answer_from_an_unrelated_passage(reader):
    texts = served(BRIDGE)
    scores = reader.score("Which team won the 1998 football World Cup?", texts)
    assert scores.max() < 0.3, scores


def test_the_reader_reads_the_answer_with_the_sentence_before_it(reader):
    # The answer names neither the village nor the question's words; the sentence before it does.
    # (A sentence that repeats the question's words, "many people live near the river", still
    # fools it: BENCHMARKS.md lists what it gets wrong.)
    first, second = "Bredon is a village in Worcestershire, England.", "Its population was 2,341 at the 2011 census."
    scores = reader.score("How many people live in Bredon?", served([first, second]))
    assert scores[1] > scores[0], scores


@pytest.mark.skipif(not (DATA / "qa_train").is_dir(), reason="needs ../shared/data (the training data)")
def test_the_training_script_runs_end_to_end_on_a_tiny_subset(tmp_path):
    out = tmp_path / "reader"
    run = subprocess.run(
        [sys.executable, str(ROOT / "training" / "train_reader.py"), "--questions", "12", "--steps", "2"]
        + ["--every", "2", "--eval", "8", "--val", "8", "--bf16", "off", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "step 2/2" in run.stdout and "wrote" in run.stdout
    assert file_hash(out / WEIGHTS) == card_hash(out)
    assert model_context(out) == "previous"  # the default: no next sentence, as the model reads it
    tokenizer, model = load_model(out)
    assert model.config.num_labels == 1 and tokenizer("q", "s")["input_ids"]


@pytest.mark.skipif(not (DATA / "qa_train").is_dir(), reason="needs ../shared/data (the training data)")
def test_a_reader_trained_to_read_the_next_sentence_is_served_with_it(tmp_path):
    from rag_generate.evidence import score_sentences
    from rag_generate.prompts import Source
    from rag_generate.sentence_reader import SentenceReader

    out = tmp_path / "reader"
    run = subprocess.run(
        [sys.executable, str(ROOT / "training" / "train_reader.py"), "--questions", "12", "--steps", "2"]
        + ["--every", "2", "--eval", "8", "--val", "8", "--bf16", "off", "--out", str(out)]
        + ["--context", "both", "--neighbours", "--init", str(MODEL)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert model_context(out) == "both"
    assert "the sentences before and after it" in (out / "README.md").read_text(encoding="utf-8")
    reader = SentenceReader(str(out))
    assert reader.available and reader.context == "both"
    ranked = score_sentences("When did the Lune Bridge open?", [Source(text=" ".join(BRIDGE))], reader=reader)
    assert {s.text.strip() for s in ranked} == set(BRIDGE) and all(s.read is not None for s in ranked)
    read = {text for _, text in reader._cache}  # what the model was given: each sentence with both neighbours
    assert pair_text(BRIDGE[1], BRIDGE[0], BRIDGE[2]) in read and pair_text(BRIDGE[3], BRIDGE[2], "") in read
    assert pair_text(BRIDGE[1], BRIDGE[0]) not in read


def test_generate_chooses_the_sentence_the_reader_reads_and_hands_its_view_to_the_calibration():
    from rag_generate.evidence import select_evidence
    from rag_generate.prompts import Source
    from rag_generate.sentence_reader import SentenceReader

    reader = SentenceReader()
    assert reader.available and "answer-reader" in reader.label and not reader.fallback
    sources = [Source(text="The Lune is a river in England. It floods in winter."), Source(text=" ".join(BRIDGE))]
    kept, trim = select_evidence(
        "When did the Lune Bridge open?", sources, 400, lambda t: len(t.split()), reader=reader.score
    )
    assert trim.best == BRIDGE[1] and kept[0][0] is sources[1]  # the source holding the answer is [1]
    assert set(trim.reading) == {"reader_logit", "reader_margin", "reader_others_logit"}
    assert trim.reading["reader_logit"] > 0 > trim.reading["reader_others_logit"]


def test_a_missing_reader_is_said_and_the_lexical_path_serves(tmp_path):
    from rag_generate.sentence_reader import SentenceReader

    missing = SentenceReader(str(tmp_path / "no-such-model"))
    assert not missing.available and missing.fallback and "GENERATE_ANSWER_READER" in missing.label
    off = SentenceReader("none")
    assert not off.available and not off.fallback and "turned off" in off.label


def test_a_miss_is_sorted_by_where_the_chosen_sentence_sits(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "training"))  # a script's folder, as `python training/...` runs it
    from reader_errors import KINDS, kind_of_choice

    # the gold paragraph (rank 0) has 4 sentences, the answer in its third; then another paragraph
    where, labels = [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)], [0, 0, 1, 0, 0]
    chosen = {k: kind_of_choice(where, labels, k) for k in range(5)}
    assert chosen == {0: KINDS[3], 1: KINDS[1], 2: KINDS[0], 3: KINDS[2], 4: KINDS[4]}
    assert kind_of_choice(where, [0] * 5, 1) == KINDS[5]
    # an answer text found in two sentences: the nearer one counts
    assert kind_of_choice(where, [1, 0, 0, 1, 0], 1) == KINDS[2]  # 1 after the first, 2 before the second
    assert kind_of_choice(where, [1, 0, 0, 1, 0], 2) == KINDS[1]


def test_readers_are_compared_with_the_training_scripts_auc_ties_included(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "training"))
    import train_reader
    from compare_readers import measures

    rng = np.random.default_rng(1)
    labels = [np.eye(8, dtype=int)[k % 8] | (rng.random(8) < 0.2) for k in range(40)]
    per_question = [(rng.normal(size=8).round(1), y) for y in labels]  # rounded: many ties
    auc, top1 = measures(per_question, range(40))
    flat = [np.concatenate([q[i] for q in per_question]) for i in (0, 1)]
    assert auc == pytest.approx(train_reader.auc(*flat))
    assert top1 == pytest.approx(np.mean([y[int(np.argmax(s))] for s, y in per_question]))
    assert measures(per_question, [3, 3, 5])[1] in (0, 1 / 3, 2 / 3, 1)  # a resample repeats a question

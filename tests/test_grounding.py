"""Grounding, without a model: evidence selection, attribution, the support check, the loop
guard, and the gate that stands between the model's stream and the user."""

from __future__ import annotations

from rag_generate.grounding import AnswerGate, attribute, best_evidence, check_support, cite, repeats, score_sentences, select_evidence, stem
from rag_generate.prompts import Source

TIDES = Source(
    id="tides",
    text="The ocean covers most of the planet. Tides are caused by the gravitational pull of the moon. The sun adds a smaller pull. "
    "Sailors have studied them for centuries.",
)
MOON = Source(id="moon", text="The moon orbits the Earth about once every 27 days. It was first visited by people in 1969.")
VOLCANO = Source(id="volcano", text="Volcanoes erupt when magma rises through the crust. Iceland has many of them.")
KEPT = [(TIDES, TIDES.text), (MOON, MOON.text)]


def words(text: str) -> int:
    return len(text.split())


def test_stem_joins_inflections_but_keeps_numbers():
    assert stem("founded") == stem("founding") == stem("founds")
    assert stem("caused") == stem("causes") == stem("cause")
    assert stem("studies") == stem("studied")
    assert stem("1,887") == "1,887" and stem("moon's") == "moon"


def test_the_sentence_that_answers_scores_highest():
    ranked = sorted(score_sentences("What causes the tides?", [VOLCANO, MOON, TIDES]), key=lambda s: -s.score)
    assert ranked[0].text.startswith("Tides are caused") and ranked[0].source == 2
    # A pronoun sentence borrows from its neighbour: "It" is the moon.
    ranked = sorted(score_sentences("When did people first visit the moon?", [TIDES, MOON]), key=lambda s: -s.score)
    assert "1969" in ranked[0].text


def test_select_evidence_keeps_the_best_sentences_within_the_budget_in_source_order():
    kept, trim = select_evidence("What causes the tides?", [VOLCANO, MOON, TIDES], budget=40, count=words, max_sentences=2)
    assert trim.used_tokens <= 40 and trim.budget_tokens == 40
    texts = " ".join(t for _, t in kept)
    assert "Tides are caused by the gravitational pull of the moon." in texts
    assert "Volcanoes" not in texts and trim.dropped and 2 in trim.kept
    # Numbering follows rank among the kept sources, like fit_sources.
    assert [s.id for s, _ in kept] == [s.id for s in (VOLCANO, MOON, TIDES) if s.id in {k.id for k, _ in kept}]
    # A gap between chosen sentences of one source is marked, so the model does not read them as one passage.
    kept, _ = select_evidence("ocean tides sailors", [TIDES], budget=100, count=words, max_sentences=3)
    assert kept[0][1].count("…") == 1


def test_select_evidence_with_no_budget_keeps_nothing():
    kept, trim = select_evidence("tides", [TIDES], budget=3, count=words)
    assert kept == [] and trim.dropped == [0]


def test_attribution_cites_the_source_that_holds_the_claim():
    claims = attribute("The moon orbits the Earth every 27 days. Its pull causes tides.", KEPT)
    assert [c.n for c in claims] == [2, 1]
    assert cite(claims) == "The moon orbits the Earth every 27 days [2]. Its pull causes tides [1]."
    # On a tie the model's own citation wins.
    assert attribute("The moon. [2]", KEPT)[0].n == 2


def test_support_check_catches_wrong_numbers_and_invented_claims():
    assert check_support("What causes tides?", "Tides are caused by the pull of the moon [1].", KEPT).supported
    wrong_number = check_support("How long is an orbit?", "The moon orbits the Earth every 30 days.", KEPT)
    assert not wrong_number.supported and "30" in wrong_number.reason
    invented = check_support("What causes tides?", "Tides come from strong winds over warm water.", KEPT)
    assert not invented.supported
    abstain = check_support("Who built it?", "I don't know.", KEPT)
    assert not abstain.supported and "no answer" in abstain.reason


def test_repeats_flags_loops_not_ordinary_text():
    assert repeats("the moon pulls the sea and the moon pulls the sea and the moon pulls the sea")
    assert not repeats("Tides are caused by the moon [1]. The sun adds a smaller pull [1].")


def feed(gate: AnswerGate, text: str) -> list[str]:
    shown = []
    for piece in text.split(" "):
        gate.feed(piece + " ")
        shown.append(gate.text)
    return shown


def test_gate_shows_only_checked_sentences_and_the_text_only_grows():
    gate = AnswerGate("What causes tides?", KEPT)
    shown = feed(gate, "Tides are caused by the pull of the moon. The sun adds a smaller pull.")
    verdict = gate.finish()
    assert verdict.supported and verdict.cited == [1]
    assert gate.text == "Tides are caused by the pull of the moon [1]. The sun adds a smaller pull [1]."
    assert all(b.startswith(a) for a, b in zip(shown, shown[1:] + [gate.text]))
    assert shown[3] == ""  # nothing is shown before the first sentence is complete and checked


def test_gate_stops_a_loop_and_keeps_the_first_copy():
    gate = AnswerGate("What causes tides?", KEPT)
    stream = iter(("Tides are caused by the moon. " * 20).split(" "))
    pulled = list(gate.watch(p + " " for p in stream))
    assert len(pulled) < 20 and gate.closed == "repetition"
    assert gate.finish().supported and gate.text == "Tides are caused by the moon [1]."


def test_gate_replaces_an_unsupported_answer_with_the_cited_evidence():
    gate = AnswerGate("What causes tides?", KEPT)
    feed(gate, "Tides come from strong winds over warm water.")
    verdict = gate.finish()
    assert not verdict.supported and verdict.reason
    assert gate.text.startswith("I could not find a clear answer in the sources.")
    assert "[1]" in gate.text and "Tides are caused by the gravitational pull of the moon." in gate.text


def test_best_evidence_is_cut_to_a_readable_length():
    long = Source(text="Tides " + "and more words " * 40 + "end.")
    n, text = best_evidence("tides", [(long, long.text)], max_words=12)
    assert n == 1 and len(text.split()) == 13 and text.endswith("…")

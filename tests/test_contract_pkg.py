"""The contract package on its own: settings readers, chat messages, the offline check."""

from __future__ import annotations

import pytest
from rag_contract import EnvReader, hub_reachable, message_text, offline

pytestmark = pytest.mark.pure

DECLARED = {"X_SIZE": ("32", "a size"), "X_NAME": ("", "a name"), "X_ON": ("on", "a switch"), "X_RATE": ("0.5", "")}


def test_settings_read_the_environment_with_the_one_declared_default():
    env = EnvReader(DECLARED, {})
    assert env.int("X_SIZE") == 32 and env.str("X_NAME") == "" and env.switch("X_ON") and env.float("X_RATE") == 0.5
    env = EnvReader(DECLARED, {"X_SIZE": " 8 ", "X_NAME": " bob ", "X_ON": "OFF", "X_RATE": "2"})
    assert env.int("X_SIZE") == 8 and env.str("X_NAME") == "bob" and not env.switch("X_ON") and env.float("X_RATE") == 2
    assert EnvReader(DECLARED, {"X_SIZE": "  "}).int("X_SIZE") == 32  # set but empty: the default
    assert EnvReader(DECLARED, {}).int("X_NAME", empty_is_none=True) is None


@pytest.mark.parametrize(
    "name, value, method, message",
    [
        ("X_SIZE", "ten", "int", "X_SIZE must be a whole number, but got 'ten'"),
        ("X_RATE", "fast", "float", "X_RATE must be a number, but got 'fast'"),
        ("X_ON", "maybe", "switch", "X_ON must be on or off, but got 'maybe'"),
    ],
)
def test_a_bad_setting_names_itself_and_the_value(name, value, method, message):
    with pytest.raises(ValueError, match=message):
        getattr(EnvReader(DECLARED, {name: value}), method)(name)
    with pytest.raises(KeyError):  # an undeclared setting is a bug in the Space, not the user's
        EnvReader(DECLARED, {}).str("X_UNDECLARED")


def test_chat_messages_as_strings_or_content_parts():
    assert message_text("as is ") == "as is "
    assert message_text([{"type": "file", "file": {"path": "x.png"}}, {"type": "text", "text": "see"}]) == "see"
    assert message_text({"type": "text", "text": "one part"}) == "one part" and message_text(None) == ""


def test_offline_is_never_looked_up(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert offline() and not hub_reachable("sentence-transformers/all-MiniLM-L6-v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not offline() and not hub_reachable(str(tmp_path))  # a local folder is not a Hub repo


def test_history_in_either_shape_reads_the_same():
    from rag_contract.messages import exchanges, history_messages, user_turns

    pairs = [["What is BM25?", "A ranking function [1]."], ["And RRF?", ""]]
    messages = [
        {"role": "user", "content": "What is BM25?"},
        {"role": "assistant", "content": [{"type": "text", "text": "A ranking function [1]."}]},
        {"role": "user", "content": "And RRF?"},
    ]
    assert history_messages(pairs) == history_messages(messages)
    assert user_turns(pairs) == user_turns(messages) == ["What is BM25?", "And RRF?"]
    assert exchanges(messages) == [
        ["What is BM25?", "A ranking function [1]."]
    ]  # a question not yet answered is left out
    with pytest.raises(ValueError, match="pairs or of {'role', 'content'} messages"):
        history_messages([{"role": "system", "content": "x"}])


def test_reciprocal_rank_fusion_sums_one_over_k_plus_rank():
    from rag_contract.fusion import reciprocal_rank_fusion

    fused = reciprocal_rank_fusion([["a", "b"], ["b", "c"]], k=60)
    assert list(fused) == ["a", "b", "c"]  # first seen first; callers sort
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61) and fused["c"] == pytest.approx(1 / 62)
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], k=-1)


def test_answer_info_round_trips_and_keeps_what_it_does_not_know():
    from rag_contract.answer_info import AnswerInfo, Citation, UsedSource

    info = AnswerInfo(
        backend="llama-cpp",
        sources=[UsedSource(n=1, id="t", source="tides.txt", text="Tides follow the moon.")],
        citations=[Citation(n=1, id="t", source="tides.txt")],
        supported=True,
        verdict="answer",
        confidence=0.9,
        grounding={"candidate": "Tides follow the moon.", "reason": None},
    )
    sent = info.to_dict()
    assert sent["verdict"] == "answer" and sent["sources"][0]["id"] == "t" and sent["citations"][0]["n"] == 1
    read = AnswerInfo.from_dict({**sent, "new_key": 1})
    assert read.sources == info.sources and read.citations == info.citations and read.quoted == "Tides follow the moon."
    assert read.extra == {"new_key": 1} and read.to_dict()["new_key"] == 1 and read.reason == ""
    progress = AnswerInfo(status="generating", sources=info.sources).to_dict()
    assert set(progress) == {"status", "sources"}  # a progress message carries only what is known
    older = AnswerInfo.from_dict({"backend": "extractive", "verdict": "likely"})  # an older Space's fewer keys
    assert older.status == "done" and older.citations == [] and older.sources is None and older.timings == {}
    with pytest.raises(ValueError, match="malformed source"):
        AnswerInfo.from_dict({"sources": ["just text"]})
    with pytest.raises(ValueError, match="must be a dict"):
        AnswerInfo.from_dict(["not", "a", "dict"])


def test_a_passage_is_read_from_a_table_row_once_and_sent_as_a_document():
    from rag_contract.passage import Passage

    row = {
        "id": 7,
        "text": "Tides follow the moon.",
        "source": "tides.md",
        "score": 0.8,
        "rerank_score": 2.5,
        "page": None,
    }
    p = Passage.from_row(0, row)
    assert (p.n, p.id, p.source, p.retrieve_score, p.rerank_score, p.page, p.cited) == (
        1,
        "7",
        "tides.md",
        0.8,
        2.5,
        "",
        False,
    )
    assert p.document() == {
        "id": "7",
        "text": "Tides follow the moon.",
        "source": "tides.md",
        "title": "",
        "score": 0.8,
    }
    assert Passage.from_row(4, {"text": "no id"}).id == "5"  # a row without an id is named by its rank

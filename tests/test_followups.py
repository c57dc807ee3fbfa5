"""Follow-up questions are searched with the conversation; a new conversation forgets (pure)."""

from __future__ import annotations

from rag_contract.messages import message_text, user_turns

from pipeline.followups import earlier_questions, names, search_queries, topic
from pipeline.rag import fuse_rankings


def test_a_self_contained_question_is_searched_alone_whatever_came_before():
    assert search_queries("What is the population of Shandong?", [["Where is Beijing?", "In China [1]."]]) == [
        "What is the population of Shandong?"
    ]


def test_a_follow_up_is_searched_with_the_subject_of_the_conversation():
    history = [["What is the capital of Shandong province?", "Jinan [1]."]]
    queries = search_queries("And how developed is it economically?", history)
    assert queries[0] == "And how developed is it economically?"  # alone too: a follow-up may change the subject
    assert any("Shandong" in q for q in queries[1:])
    assert queries[-1] == "What is the capital of Shandong province? And how developed is it economically?"


def test_the_topic_of_the_earlier_answer_names_what_it_is():
    # "Who has won every election?" names nothing; the document it was answered from does.
    history = [["Who has won in every election?", "The Republican Party (source 1)."]]
    assert earlier_questions("Where is it located?", history) == ["Who has won in every election?"]
    about = topic([{"id": "c3", "title": " Politics of  Connecticut "}, {"id": "c9", "title": "Istanbul"}])
    assert about == "Politics of Connecticut"  # the best passage's title, spaces tidied
    queries = search_queries("Where is it located?", history, about=about)
    assert queries == [
        "Where is it located?",
        "Where is it located? Politics of Connecticut",
        "Who has won in every election? Where is it located? Politics of Connecticut",
    ]
    assert topic([]) == "" and topic([{"id": "x", "title": None}]) == ""
    # Without a topic, the earlier question's names stand in (here none); a self-contained question ignores both.
    assert search_queries("Where is it located?", history) == [
        "Where is it located?",
        "Who has won in every election? Where is it located?",
    ]
    assert search_queries("Where is Istanbul?", history, about="Connecticut") == ["Where is Istanbul?"]


def test_a_new_conversation_forgets():
    assert search_queries("When was it built?", []) == ["When was it built?"]
    assert search_queries("When was it built?", None) == ["When was it built?"]
    assert earlier_questions("When was it built?", []) == []


def test_a_chain_of_follow_ups_reaches_back_to_the_question_that_named_the_subject():
    history = [
        ["Who designed the Eiffel Tower?", "Gustave Eiffel [1]."],
        ["Where is it?", "Paris [1]."],
        ["How tall is it?", "330 m [1]."],
    ]
    queries = search_queries("When was it built?", history)
    assert queries[-1] == "Who designed the Eiffel Tower? Where is it? How tall is it? When was it built?"
    # An older, unrelated exchange before the one that named the subject is left out.
    longer = [["What is BM25?", "A ranking function [1]."]] + history
    assert "BM25" not in " ".join(search_queries("When was it built?", longer))


def test_history_in_messages_form_works_too():
    messages = [
        {"role": "user", "content": "What is the Eiffel Tower?"},
        {"role": "assistant", "content": "A tower [1]."},
    ]
    assert user_turns(messages) == ["What is the Eiffel Tower?"]
    assert "Eiffel Tower" in search_queries("When was it built?", messages)[1]


def test_a_chatbots_messages_with_content_parts_work_too():
    # What a Gradio 6 Chatbot holds: content as a list of parts, not a string.
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "What is the Eiffel Tower?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A tower (source 1)."}]},
    ]
    assert user_turns(messages) == ["What is the Eiffel Tower?"]
    assert user_turns([[[{"type": "text", "text": "Where is Paris?"}], "In France."]]) == ["Where is Paris?"]
    assert search_queries("When was it built?", messages)[-1] == "What is the Eiffel Tower? When was it built?"
    assert message_text([{"type": "file", "file": {"path": "x.png"}}, {"type": "text", "text": "see"}]) == "see"
    assert message_text(None) == "" and message_text("as is ") == "as is "


def test_names_keeps_what_a_question_is_about():
    assert names("What is the capital of Shandong province?") == "Shandong"
    assert names("When did the Republican Party form?") == "Republican Party"
    assert names("what is it?") == ""


def test_rankings_fuse_by_reciprocal_rank_keeping_the_first_copy():
    a = [{"id": "x", "text": "1"}, {"id": "y"}, {"id": "z"}]
    b = [{"id": "y", "text": "2"}, {"id": "x"}]
    fused = fuse_rankings([a, b])
    assert [r["id"] for r in fused][:2] in (["x", "y"], ["y", "x"]) and {r["id"] for r in fused} == {"x", "y", "z"}
    assert fused[-1]["id"] == "z"  # in one list only
    assert next(r for r in fused if r["id"] == "x")["text"] == "1"
    assert fuse_rankings([a]) is a

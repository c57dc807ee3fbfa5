"""The Rerank Space: a tiny real cross-encoder, the bi-encoder refusal, the offline fallback,
every input form through a real server and gradio_client, and the bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import Client
from rag_contract.table import TableError, clean, order_by_score, to_table
from rag_rerank.scorers import CrossEncoderScorer, NotACrossEncoderError, load_scorer

from tests.tiny_models import make_cross_encoder, minilm_path

PASSAGES = [
    "Volcanoes erupt when magma rises through the crust.",
    "Tides are caused by the gravitational pull of the moon and the sun.",
    "The moon orbits the Earth about once a month.",
    "Photosynthesis turns sunlight into sugar.",
]


@pytest.fixture(scope="session")
def tiny_ce(tmp_path_factory):
    return make_cross_encoder(tmp_path_factory.mktemp("tiny-ce"))


# -- pure table logic ---------------------------------------------------------------------


def test_every_input_form_becomes_the_same_table():
    as_strings = to_table(PASSAGES)
    as_dicts = to_table([{"text": p, "id": str(i)} for i, p in enumerate(PASSAGES)])
    as_payload = to_table(
        {"headers": ["id", "text"], "data": [[str(i), p] for i, p in enumerate(PASSAGES)], "metadata": None}
    )
    for t in (as_strings, as_dicts, as_payload):
        assert t.texts() == PASSAGES
    assert as_dicts.headers == ["text", "id"] and as_payload.headers == ["id", "text"]


def test_clean_drops_empty_and_collapses_duplicates_keeping_the_first():
    t = clean(
        to_table(
            {
                "headers": ["id", "text"],
                "data": [["a", "Same  Text"], ["b", ""], ["c", "same text"], ["d", None], ["e", "other"]],
            }
        )
    )
    assert [r[0] for r in t.rows] == ["a", "e"]
    assert t.dropped_empty == 2 and t.duplicates == 1


def test_ties_keep_input_order():
    assert order_by_score([0.5, 0.9, 0.5, 0.9]) == [1, 3, 0, 2]


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"headers": ["id", "body"], "data": [["a", "x"]]}, r"no `text` column. Columns given: \['id', 'body'\]"),
        ({"rows": []}, "needs `headers` and `data`"),
        ("just a string", "not a single string"),
        (42, "not a number"),
        ([1, 2, 3], "only strings or only dicts"),
        (["x"] * 1001, "over the limit of 1000"),
        ({"headers": ["text"], "data": [["a", "b"]]}, "has 2 cells but there are 1 headers"),
        (None, "No documents"),
    ],
)
def test_bad_tables_get_clear_errors(payload, message):
    with pytest.raises(TableError, match=message):
        to_table(payload)


# -- scorers --------------------------------------------------------------------------------


def test_cross_encoder_scores_are_probabilities_and_stable_across_loads(tiny_ce):
    a = CrossEncoderScorer(tiny_ce).score("what causes tides?", PASSAGES)
    b = CrossEncoderScorer(tiny_ce).score("what causes tides?", PASSAGES)
    assert a.shape == (4,) and np.all((a >= 0) & (a <= 1))
    np.testing.assert_allclose(a, b, rtol=1e-5)  # a trained head is in the checkpoint: no randomness


def test_a_bi_encoder_checkpoint_is_refused_with_the_fix():
    with pytest.raises(NotACrossEncoderError, match="not a cross-encoder.*classifier.*ms-marco-MiniLM-L6-v2"):
        CrossEncoderScorer(minilm_path()).warm_up()
    choice = load_scorer(minilm_path())
    assert choice.scorer is None and "not a cross-encoder" in choice.refused


def test_an_unloadable_model_falls_back_to_the_projects_answer_cross_encoder_visibly():
    choice = load_scorer("cross-encoder/ms-marco-MiniLM-L6-v2")  # not cached, HF_HUB_OFFLINE=1
    assert choice.scorer.method == "answer-reader"
    assert "could not be loaded" in choice.reason and "answer-reader" in choice.label
    assert "answer cross-encoder" in choice.summary
    scores = choice.scorer.score("what causes tides?", PASSAGES)
    assert int(np.argmax(scores)) == 1 and scores[1] > 0.5  # real weights: the passage that answers comes first


def test_the_answer_cross_encoder_fuses_with_retrieval_and_keeps_a_statements_order():
    from rag_rerank.reranker import Reranker, reads_as_question

    reranker = Reranker(load_scorer("cross-encoder/ms-marco-MiniLM-L6-v2"))  # offline: the answer reader
    assert reads_as_question("what causes tides") and reads_as_question("Tides: the cause?")
    assert reads_as_question("List the causes of tides") and not reads_as_question("The moon causes tides.")
    # Retrieval put the answering passage second
    table = {"headers": ["text", "score"], "data": [[t, s] for t, s in zip(PASSAGES, (0.9, 0.8, 0.7, 0.6))]}
    plain = reranker.run("what causes tides?", PASSAGES)
    fused = reranker.run("what causes tides?", table)
    assert plain.method == reranker.method and fused.method.endswith("fused with the retrieval score")
    assert plain.rows[0][0] == PASSAGES[1] and fused.rows[0][0] == PASSAGES[1]  # it reads the answer
    # ... and the other rows follow retrieval's scores, where the reader has nothing to say
    assert [r[0] for r in fused.rows[1:]] == [PASSAGES[0], PASSAGES[2], PASSAGES[3]]
    statement = reranker.run("The moon pulls the tides.", table)
    assert [r[0] for r in statement.rows] == PASSAGES and "statement" in statement.method
    assert all(r[-1] is True for r in statement.rows)  # still the fallback, said in every row


def test_without_the_answer_cross_encoder_the_input_order_is_kept_visibly(tmp_path):
    for fallback in ("none", str(tmp_path / "no-such-model")):
        choice = load_scorer("cross-encoder/ms-marco-MiniLM-L6-v2", fallback_model=fallback)
        assert choice.scorer.method == "input-order"
        assert (
            "could not be loaded" in choice.reason and "fallback" in choice.label and "no cross-encoder" in choice.label
        )
        scores = choice.scorer.score("what causes tides?", PASSAGES)
        assert list(np.argsort(-scores)) == list(range(len(PASSAGES)))  # never worse than its input


# -- the real server ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(start_module_space, tiny_ce):
    return Client(start_module_space("rerank", RERANK_MODEL=tiny_ce).url, verbose=False)


def rows(table):
    return [dict(zip(table["headers"], r)) for r in table["data"]]


def test_rerank_keeps_columns_and_orders_by_score(client, tiny_ce):
    payload = {
        "headers": ["id", "text", "source", "score"],
        "data": [[str(i), p, f"s{i}.md", 1.0 - i / 10] for i, p in enumerate(PASSAGES)],
        "metadata": None,
    }
    table = client.predict("what causes tides?", payload, 3, api_name="/rerank")
    assert table["headers"] == [
        "id",
        "text",
        "source",
        "score",
        "rank",
        "rerank_score",
        "rerank_method",
        "rerank_fallback",
    ]
    got = rows(table)
    assert len(got) == 3
    scores = [r["rerank_score"] for r in got]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert [r["rank"] for r in got] == scores
    assert all(r["rerank_method"] == f"cross-encoder {tiny_ce}" and r["rerank_fallback"] is False for r in got)
    # The order is the scorer's own, computed in process from the same checkpoint.
    expected = CrossEncoderScorer(tiny_ce).score("what causes tides?", PASSAGES)
    assert [r["id"] for r in got] == [str(i) for i in np.argsort(-expected, kind="stable")[:3]]
    status = client.predict(api_name="/status")
    assert status["method"] == f"cross-encoder {tiny_ce}" and status["fallback_reason"] is None


def test_top_n_defaults_to_every_row(client):
    table = client.predict(query="what causes tides?", documents=PASSAGES, api_name="/rerank")
    assert sorted(r["text"] for r in rows(table)) == sorted(PASSAGES)


def test_reranking_twice_keeps_one_of_each_added_column(client):
    once = client.predict("what causes tides?", PASSAGES, api_name="/rerank")
    twice = client.predict("what causes tides?", once, api_name="/rerank")
    assert twice["headers"] == once["headers"] == ["text", "rank", "rerank_score", "rerank_method", "rerank_fallback"]


def test_rerank_takes_the_retrieve_table_unchanged(client, start_space, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, p in enumerate(PASSAGES):
        (docs / f"p{i}.txt").write_text(p)
    retrieve = Client(
        start_space("retrieve", RETRIEVE_INDEX_DIR=str(tmp_path / "index"), RETRIEVE_CORPUS=str(docs)).url,
        verbose=False,
    )
    hits = retrieve.predict("moon", 4, "hybrid", "", api_name="/retrieve")
    table = client.predict("what causes tides?", hits, 2, api_name="/rerank")
    assert set(hits["headers"]) < set(table["headers"]) and len(table["data"]) == 2
    assert {r["id"] for r in rows(table)} <= {r[0] for r in hits["data"]}


@pytest.mark.parametrize(
    "documents",
    [PASSAGES, [{"text": p, "url": f"u{i}"} for i, p in enumerate(PASSAGES)]],
    ids=["strings", "dicts"],
)
def test_rerank_takes_lists(client, documents):
    table = client.predict("what causes tides?", documents, 10, api_name="/rerank")
    assert len(table["data"]) == 4


def test_empty_rows_and_duplicates_are_dropped(client):
    docs = PASSAGES + ["", "   ", PASSAGES[1].upper()]
    table = client.predict("tides", docs, 10, api_name="/rerank")
    assert sorted(r["text"] for r in rows(table)) == sorted(PASSAGES)  # the first of the duplicates is kept


@pytest.mark.parametrize(
    "query, documents, top_n, message",
    [
        ("", PASSAGES, 3, "query is empty"),
        ("   ", PASSAGES, 3, "query is empty"),
        ("q", {"headers": ["id", "body"], "data": [["a", "x"]]}, 3, "no `text` column"),
        ("q", "not a table", 3, "not a single string"),
        ("q", ["x"] * 1001, 3, "over the limit of 1000"),
        ("q", PASSAGES, 0, "top_n must be a whole number from 1"),
        ("q", PASSAGES, -2, "top_n must be a whole number from 1"),
    ],
)
def test_bad_inputs_get_clear_errors(client, query, documents, top_n, message):
    with pytest.raises(Exception, match=message):
        client.predict(query, documents, top_n, api_name="/rerank")


def test_a_bi_encoder_space_starts_but_refuses_to_rerank(start_space):
    client = Client(start_space("rerank", RERANK_MODEL=minilm_path()).url, verbose=False)
    with pytest.raises(Exception, match="not a cross-encoder"):
        client.predict("tides", PASSAGES, 2, api_name="/rerank")


def test_offline_fallback_through_the_server(start_space):
    client = Client(start_space("rerank", RERANK_MODEL="cross-encoder/ms-marco-MiniLM-L6-v2").url, verbose=False)
    table = client.predict("what causes tides?", PASSAGES, 2, api_name="/rerank")
    got = rows(table)
    assert got[0]["text"] == PASSAGES[1]  # the project's answer cross-encoder reranks
    status = client.predict(api_name="/status")
    assert all(r["rerank_fallback"] is True for r in got) and status["fallback"] is True
    assert "answer-reader" in got[0]["rerank_method"] and "could not be loaded" in status["fallback_reason"]


def test_the_page_says_why_the_fallback_serves_in_a_sentence_without_server_details():
    from rag_rerank.scorers import why_not_loaded

    offline = OSError("We couldn't connect to 'https://huggingface.co' to load /srv/venv/lib/site-packages/x")
    said = why_not_loaded("cross-encoder/ms-marco-MiniLM-L6-v2", offline)
    assert "Hugging Face Hub cannot be reached" in said and "RERANK_MODEL" in said
    assert "OSError" not in said and "/srv" not in said
    assert "RERANK_MODEL" in why_not_loaded("x", ValueError("/srv/x: bad config"))
    assert "/srv" not in why_not_loaded("x", ValueError("/srv/x: bad config"))


def test_the_page_reports_a_call_in_words_and_positions_as_integers(tiny_ce):
    from rag_rerank.api import RerankAPI, report_sentence
    from rag_rerank.reranker import Reranker

    api = RerankAPI(reranker=Reranker(load_scorer(tiny_ce)))
    docs = {"headers": ["text", "score"], "data": [[p, 0.9 - i / 10] for i, p in enumerate(PASSAGES)] + [["", 0.1]]}
    shown, report, before, after = api.rerank_with_plots("what causes tides?", docs, 3)
    assert list(shown.columns) == ["#", "passage", "score", "was #"]
    assert list(shown["#"]) == [1, 2, 3] and len(set(shown["was #"])) == 3 <= len(PASSAGES)
    assert set(shown["was #"]) <= set(range(1, len(PASSAGES) + 1))
    assert (
        report.startswith(f"Scored {len(PASSAGES) + 1} passages with cross-encoder")
        and "1 empty row was dropped" in report
    )
    assert before.y_lim[0] == 0 and after.y_lim[0] == 0  # charts start at zero
    assert report_sentence({**_REPORT, "duplicates_collapsed": 2}).endswith(
        "2 repeated passages were collapsed into the first."
    )


_REPORT = {"input_rows": 1, "returned": 1, "method": "m", "seconds": 0.0, "dropped_empty": 0, "duplicates_collapsed": 0}

"""Property-based fuzzing of the Spaces' public endpoints through the real gradio_client.

Shared by tests/test_fuzz.py (a fast profile in `make test`) and benchmarks/fuzz.py (a long
profile). Each call must end in a result or a clear error, within a time limit, and the Space
must answer a good request afterwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hypothesis import strategies as st

# A clear error reads as a sentence written for a person. What Python or a library says on its
# own ("'NoneType' object has no attribute 'strip'", "list index out of range") does not.
RAW = re.compile(
    r"Traceback|object has no attribute|not subscriptable|unsupported operand|index out of range|object is not|"
    r"invalid literal|unhashable|takes \d+ positional|got an unexpected keyword|^'[^']*'$|^\w+Error\b|NoneType"
)


# Gradio's own input validation names the parameter, the type or the choices it expected, and
# the value it got: clear, though not ours.
GRADIO_VALIDATION = re.compile(
    r"Could not preprocess input component at index \d+ .* Expected a .* but the value passed|^Value: .*is not in the list of choices: "
)


def clear(message: str) -> bool:
    m = " ".join(str(message).split())
    if GRADIO_VALIDATION.search(m):
        return True
    return len(m.split()) >= 4 and not RAW.search(m) and m[-1] in ".!?)”\"'`"


# -- values ------------------------------------------------------------------------------------

texts = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "",
            " ",
            "\n\t",
            "What causes tides?",
            "moon",
            "a" * 20_000,
            "🌊" * 500,
            "\x00\x01",
            "<script>alert(1)</script>",
            "' OR 1=1 --",
            "../../etc/passwd",
        ]
    ),
    st.integers(min_value=1, max_value=200).map(lambda n: "tides moon " * n),
)
numbers = st.one_of(
    st.integers(min_value=-10, max_value=3000),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
    st.sampled_from([0, 1, 5, 1000, 1001, -1, 0.5, 2.5, 1e9]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
rows = st.lists(st.lists(scalars, min_size=0, max_size=5), max_size=6)
tables = st.one_of(
    st.fixed_dictionaries(
        {"headers": st.lists(st.sampled_from(["id", "text", "source", "score", "x", ""]), max_size=5), "data": rows}
    ),
    st.fixed_dictionaries(
        {"headers": st.just(["id", "text"]), "data": st.lists(st.tuples(texts, texts).map(list), max_size=6)}
    ),
    st.lists(texts, max_size=6),
    st.lists(st.fixed_dictionaries({"text": texts}, optional={"id": scalars, "source": scalars}), max_size=6),
    junk,
)
histories = st.one_of(st.just([]), st.lists(st.tuples(texts, texts).map(list), max_size=3), junk)


def mostly(valid: st.SearchStrategy, other: st.SearchStrategy = scalars) -> st.SearchStrategy:
    """Valid two times in three: calls with one bad field then reach the checks past the first."""
    return st.one_of(valid, valid, other)


@dataclass
class Endpoint:
    """One public endpoint: the Space, the name, and a strategy for its arguments."""

    space: str
    api_name: str
    args: st.SearchStrategy


DOCS = ["Tides are caused by the moon.", "Volcanoes erupt."]
# A good request per Space, to check it still answers after the fuzzing.
HEALTH = {
    "retrieve": ("/retrieve", ("moon", 2, "hybrid", "")),
    "rerank": ("/rerank", ("tides", DOCS)),
    "generate": ("/answer", ("What causes tides?", DOCS, [], 8)),
    "chat": ("/ask", ("What causes tides?",)),
}


def endpoints(token: str) -> list[Endpoint]:
    k = mostly(st.integers(1, 50))
    temperature, top_p, top_k = mostly(st.floats(0, 2)), mostly(st.floats(0.01, 1)), mostly(st.integers(0, 100))
    max_tokens = mostly(st.integers(1, 48), st.one_of(st.integers(-5, 0), st.none(), scalars))
    question = mostly(st.sampled_from(["What causes tides?", "moon", "Which files can I upload?"]), texts)
    return [
        Endpoint(
            "retrieve",
            "/retrieve",
            st.tuples(
                question,
                k,
                mostly(st.sampled_from(["dense", "bm25", "hybrid"])),
                mostly(st.sampled_from(["", "source~tides", "title~moon"]), st.one_of(texts, scalars)),
            ),
        ),
        Endpoint("retrieve", "/similarity_search", st.tuples(question, k)),
        Endpoint(
            "retrieve",
            "/delete_source",
            st.tuples(st.one_of(texts, scalars), st.one_of(st.just(token), texts, scalars)),
        ),
        Endpoint("retrieve", "/stats", st.just(())),
        Endpoint("retrieve", "/list_sources", st.just(())),
        Endpoint(
            "rerank",
            "/rerank",
            st.tuples(question, mostly(st.just(DOCS), tables), st.one_of(st.none(), st.integers(1, 5), scalars)),
        ),
        Endpoint("rerank", "/status", st.just(())),
        Endpoint(
            "generate",
            "/generate",
            st.tuples(question, mostly(st.just("Be brief."), texts), max_tokens, temperature, top_p, top_k),
        ),
        Endpoint(
            "generate",
            "/answer",
            st.tuples(
                question,
                mostly(st.just(DOCS), tables),
                mostly(st.just([]), histories),
                max_tokens,
                temperature,
                top_p,
                top_k,
            ),
        ),
        Endpoint("generate", "/status", st.just(())),
        Endpoint("chat", "/ask", st.tuples(question, mostly(st.integers(1, 30)), mostly(st.integers(1, 5)))),
    ]

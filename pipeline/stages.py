"""The stages behind one interface, remote or in process.

`RAGPipeline` speaks to each stage through `call(api_name, *args)` and `stream(api_name, *args)`:
the Space's public API, by the same names, with the same arguments, and with results in the
shape the wire gives them (a table is `{"headers", "data"}`). Two implementations:

- `StageClient` (clients.py): a Space somewhere else, through gradio_client.
- `InProcessStage`: the Space's own API object (`RetrieveAPI`, `RerankAPI`, `GenerateAPI`) in
  this process, as the one-Space suite (spaces/suite) runs them. No HTTP, no queue, no polling.

The pipeline's logic does not know which one it has.
"""

from __future__ import annotations

import inspect
import json
import math
from typing import Any, Callable, Iterator, Protocol, runtime_checkable

from .clients import StageError

# Each stage's public endpoints, by api_name, and the method of its API object that serves it.
ENDPOINTS: dict[str, dict[str, str]] = {
    "retrieve": {
        "/retrieve": "retrieve",
        "/similarity_search": "similarity_search",
        "/add_documents": "add_documents",
        "/delete_source": "delete_source",
        "/stats": "stats",
        "/list_sources": "list_sources",
    },
    "rerank": {"/rerank": "rerank", "/status": "status"},
    "generate": {"/generate": "generate", "/answer": "answer", "/status": "status"},
}


@runtime_checkable
class Stage(Protocol):
    """What `RAGPipeline` needs of a stage."""

    stage: str

    @property
    def url(self) -> str: ...

    def call(self, api_name: str, *args: Any) -> Any:
        """The endpoint's final output."""

    def stream(self, api_name: str, *args: Any, progress: Callable[[float, str], None] | None = None) -> Iterator[Any]:
        """Each output the endpoint yields, then its final one."""


def wire(value: Any) -> Any:
    """`value` as the wire would carry it: a DataFrame as a table payload, tuples as lists inside
    JSON, NaN as None, numpy numbers as Python ones, so in-process callers read what remote ones do."""
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # a pandas DataFrame
        rows = value.astype(object).values.tolist()
        return {"headers": [str(c) for c in value.columns], "data": _plain(rows), "metadata": None}
    if isinstance(value, tuple):  # several outputs, as gradio_client returns them
        return tuple(wire(v) for v in value)
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return json.loads(json.dumps(value, default=_default, allow_nan=True), parse_constant=lambda _: None)


def _default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _local_files(value: Any) -> Any:
    """gradio_client's `handle_file(path)` payloads as the paths themselves, which a Space's
    upload handler receives after Gradio has stored the upload."""
    if isinstance(value, dict) and (value.get("meta") or {}).get("_type") == "gradio.FileData":
        return value.get("path")
    if isinstance(value, list):
        return [_local_files(v) for v in value]
    return value


class InProcessStage:
    """A Space's API object, called in this process under the Stage interface.

    Usage:
        from rag_rerank.api import RerankAPI
        rerank = InProcessStage("rerank", RerankAPI())
        rerank.call("/rerank", "What causes tides?", ["The moon pulls the sea.", "Lava is hot."])

    Args:
        stage: retrieve, rerank or generate (names the endpoints it serves, `ENDPOINTS`).
        api: the Space's API object (`RetrieveAPI`, `RerankAPI`, `GenerateAPI`).

    An error the Space raises becomes a `StageError` that names the stage, as a remote call's does.
    """

    def __init__(self, stage: str, api: Any):
        if stage not in ENDPOINTS:
            raise ValueError(f"stage must be one of {', '.join(ENDPOINTS)}, but got {stage!r}")
        missing = [m for m in ENDPOINTS[stage].values() if not callable(getattr(api, m, None))]
        if missing:
            raise TypeError(f"{type(api).__name__} is not a {stage} API: it lacks {', '.join(missing)}")
        self.stage, self.api = stage, api

    @property
    def url(self) -> str:
        return f"in process ({type(self.api).__name__})"

    def _function(self, api_name: str) -> Callable:
        try:
            return getattr(self.api, ENDPOINTS[self.stage][api_name])
        except KeyError:
            known = ", ".join(ENDPOINTS[self.stage])
            raise StageError(
                self.stage, self.url, f"it has no endpoint {api_name}", f"Its endpoints are {known}."
            ) from None

    def stream(self, api_name: str, *args: Any, progress: Callable[[float, str], None] | None = None) -> Iterator[Any]:
        function = self._function(api_name)
        args = tuple(_local_files(a) for a in args)
        try:
            out = function(*args)
            if inspect.isgenerator(out):
                for value in out:
                    yield wire(value)
            else:
                yield wire(out)
        except StageError:
            raise
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc)  # gr.Error keeps the user's message here
            raise StageError(
                self.stage,
                self.url,
                f"{api_name} returned an error: {message}",
                "See the message above; it comes from the stage itself.",
            ) from exc

    def call(self, api_name: str, *args: Any) -> Any:
        final = None
        for final in self.stream(api_name, *args):
            pass
        return final


def in_process(retrieve: Any, rerank: Any, generate: Any) -> dict[str, InProcessStage]:
    """The three stages over API objects in this process, as `RAGPipeline(**in_process(...))` takes them."""
    return {
        "retrieve": InProcessStage("retrieve", retrieve),
        "rerank": InProcessStage("rerank", rerank),
        "generate": InProcessStage("generate", generate),
    }

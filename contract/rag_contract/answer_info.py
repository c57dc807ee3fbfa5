"""What the generate Space's /answer reports beside the text: one typed record, read in one place.

The generate Space builds an `AnswerInfo` and sends `to_dict()`; the pipeline, the chat page and
the OpenAI routes read the dict back with `from_dict`, never by string key. A key an older or
newer Space sends that this version does not know is kept in `extra`, and a key it leaves out
takes the field's default, so neither side breaks the other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

VERDICTS = ("answer", "likely", "not_found")
_NULLABLE = {"sources", "supported", "confidence", "llama_cpp_native", "model_asked"}


@dataclass
class UsedSource:
    """A source the model read, numbered as the answer cites it."""

    n: int
    id: str
    source: str = ""
    title: str = ""
    cut: bool = False  # the text was trimmed to fit the model's context
    text: str = ""


@dataclass
class Citation:
    n: int
    id: str
    source: str = ""


@dataclass
class AnswerInfo:
    """/answer's report. While the model reads, `status` is "generating" and only `sources` is set."""

    status: str = "done"
    sources: list[UsedSource] | None = None
    backend: str = "unknown"
    backend_label: str = ""
    # False: the backend's model was not asked, since nothing it could write would change the
    # verdict (the answer reader settled it); None: no model reads (the extractive backend)
    model_asked: bool | None = None
    attempts: list[dict] = field(default_factory=list)  # {backend, outcome, detail, seconds}, in fallback order
    citations: list[Citation] = field(default_factory=list)
    supported: bool | None = None  # true exactly when verdict is "answer"
    verdict: str = ""
    confidence: float | None = None  # calibrated probability that the shown sentence answers the question
    evidence_scorer: str = ""
    evidence_fallback: bool = False
    reader: str = ""
    reader_fallback: bool = False
    llama_cpp_native: dict | None = None
    grounding: dict = field(
        default_factory=dict
    )  # reason, candidate, signals, calibration, stopped, model_text, claims
    trim: dict = field(default_factory=dict)
    history_messages_kept: int = 0
    usage: dict = field(default_factory=dict)  # prompt_tokens, completion_tokens
    timings: dict = field(default_factory=dict)  # ttft_s (first text shown), first_token_s, total_s, decode_tok_s
    extra: dict = field(default_factory=dict)  # keys this version does not know, kept as sent

    @property
    def reason(self) -> str:
        """Why the verdict is what it is, in plain words ("" when the answer stands)."""
        return self.grounding.get("reason") or ""

    @property
    def quoted(self) -> str:
        """The source sentence the answer shows ("" when nothing is quoted)."""
        return self.grounding.get("candidate") or ""

    def to_dict(self) -> dict:
        out = asdict(self)
        extra = out.pop("extra")
        if self.status != "done":  # a progress message carries only what is known
            return {"status": self.status, "sources": out["sources"], **extra}
        return {**out, **extra}

    @classmethod
    def from_dict(cls, data: dict | None) -> "AnswerInfo":
        """Read /answer's dict; ValueError names what is malformed."""
        if data is None:
            return cls(status="generating")
        if not isinstance(data, dict):
            raise ValueError(f"/answer's info must be a dict, but got {type(data).__name__}")
        known = {f.name for f in fields(cls)} - {"extra"}
        # None means "not set": the field's default, unless None is a value the field can hold.
        kwargs = {k: v for k, v in data.items() if k in known and (v is not None or k in _NULLABLE)}
        try:
            if kwargs.get("sources") is not None:
                kwargs["sources"] = [UsedSource(**_only(UsedSource, s)) for s in kwargs["sources"]]
            kwargs["citations"] = [Citation(**_only(Citation, c)) for c in kwargs.get("citations") or []]
        except TypeError as exc:
            raise ValueError(f"/answer's info has a malformed source or citation: {exc}") from exc
        if "status" not in data:
            kwargs["status"] = "done"
        return cls(**kwargs, extra={k: v for k, v in data.items() if k not in known})


def _only(kind, value: dict) -> dict:
    names = {f.name for f in fields(kind)}
    if not isinstance(value, dict):
        raise TypeError(f"expected a dict, got {type(value).__name__}")
    return {k: v for k, v in value.items() if k in names}

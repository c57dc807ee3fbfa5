"""`RAGPipeline`: retrieve, rerank and generate, composed through each Space's public API."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Iterator

from .clients import StageClient, StageError
from .launcher import DEFAULT_PORTS


@dataclass
class Source:
    """A passage the answer was given, with the scores that chose it."""

    n: int
    id: str
    text: str
    source: str = ""
    title: str = ""
    retrieve_score: float | None = None
    rerank_score: float | None = None
    cited: bool = False


@dataclass
class Answer:
    """What `RAGPipeline.ask` returns."""

    text: str
    sources: list[Source]
    backend: str
    timings: dict = field(default_factory=dict)  # client-side seconds per stage, and what each Space reported
    rerank_method: str = ""
    supported: bool | None = None  # true exactly when verdict is "answer"
    verdict: str = ""  # the generate Space's verdict: "answer", "likely" (hedged best match) or "not_found"
    confidence: float | None = None  # calibrated probability that the shown sentence answers the question
    notes: list[str] = field(default_factory=list)  # degraded paths, said out loud
    search_query: str = ""  # what retrieval searched with: the question, with earlier ones for a follow-up
    info: dict = field(default_factory=dict)  # the generate Space's final report

    def to_dict(self) -> dict:
        return {
            "answer": self.text,
            "sources": [s.__dict__ for s in self.sources],
            "backend": self.backend,
            "timings": self.timings,
            "rerank_method": self.rerank_method,
            "supported": self.supported,
            "verdict": self.verdict,
            "confidence": self.confidence,
            "model": self.info.get("backend_label"),
            "evidence_scorer": self.info.get("evidence_scorer"),
            "notes": self.notes,
        }


def _rows(table: dict) -> list[dict]:
    return [dict(zip(table["headers"], r)) for r in table.get("data") or []]


def _table(rows: list[dict]) -> dict:
    headers = list(rows[0]) if rows else ["id", "text", "source", "score"]
    return {"headers": headers, "data": [[r.get(h) for h in headers] for r in rows], "metadata": None}


def dedupe(rows: list[dict]) -> list[dict]:
    """Drop rows whose text repeats after whitespace and case normalisation; keep the first."""
    seen, out = set(), []
    for r in rows:
        key = " ".join(str(r.get("text", "")).split()).casefold()
        if key and key not in seen:
            seen.add(key)
            out.append(r)
    return out


# Words that point back at something said before: a question holding one is a follow-up.
_REFERS_BACK = re.compile(
    r"\b(it|its|it's|itself|they|them|their|theirs|themselves|this|that|these|those|he|him|his|she|her|hers|there)\b",
    re.I,
)


def user_turns(history) -> list[str]:
    """The user's earlier questions, oldest first, from [[user, assistant], ...] or [{"role", "content"}, ...]."""
    out = []
    for turn in history or []:
        if isinstance(turn, dict):
            if turn.get("role") == "user" and isinstance(turn.get("content"), str):
                out.append(turn["content"])
        elif isinstance(turn, (list, tuple)) and turn and isinstance(turn[0], str):
            out.append(turn[0])
    return [t for t in out if t.strip()]


_NOT_NAMES = frozenset(
    "what when who whom whose where why how which is are was were do does did can could will "
    "would should the a an in of on for to and or by with from at as i".split()
)


def names(text: str) -> str:
    """The capitalised words of `text` that are not question words: what it is about, usually."""
    return " ".join(
        w
        for w in re.findall(r"[A-Za-z][\w'-]*", text)
        if w[0].isupper() and w.lower() not in _NOT_NAMES and not _REFERS_BACK.fullmatch(w)
    )


def search_queries(question: str, history=None, *, max_turns: int = 3) -> list[str]:
    """What retrieval searches with: the question alone, and for a follow-up that points back
    ("When was it built?") two more, each with the conversation's subject: the question with the
    names of the earlier questions, and the earlier questions and the question together.

    Earlier questions are taken back to the first that points back at nothing (it names its
    subject), at most `max_turns`. A self-contained question, or one with no history, is searched
    alone, so a new conversation forgets the old one. The rankings are fused (`fuse_rankings`):
    the question alone keeps its say, because a follow-up may also change the subject.
    """
    question = " ".join(question.split())
    if not _REFERS_BACK.search(question):
        return [question]
    context: list[str] = []
    for earlier in reversed(user_turns(history)[-max_turns:]):
        context.insert(0, " ".join(earlier.split()))
        if not _REFERS_BACK.search(earlier):
            break
    if not context:
        return [question]
    subject = names(" ".join(context))
    return [question] + ([f"{question} {subject}"] if subject else []) + [" ".join(context + [question])]


def fuse_rankings(rankings: list[list[dict]], *, k: int = 60) -> list[dict]:
    """Reciprocal rank fusion of several result lists (rows with an `id`), best first; a row's
    first copy is kept. One list comes back as it is."""
    if len(rankings) == 1:
        return rankings[0]
    score: dict[str, float] = {}
    first: dict[str, dict] = {}
    for rows in rankings:
        for rank, row in enumerate(rows):
            key = str(row.get("id", row.get("text", "")))
            score[key] = score.get(key, 0.0) + 1.0 / (k + rank + 1)
            first.setdefault(key, row)
    return [first[key] for key in sorted(score, key=lambda key: -score[key])]


def default_url(stage: str) -> str:
    return os.environ.get(f"PIPELINE_{stage.upper()}_URL", f"http://127.0.0.1:{DEFAULT_PORTS[stage]}/")


class RAGPipeline:
    """Question answering over the three Spaces.

    Usage:
        rag = RAGPipeline(retrieve="http://127.0.0.1:7861/", rerank="you/rerank", generate="you/generate")
        answer = rag.ask("What causes tides?")
        print(answer.text, [s.id for s in answer.sources], answer.backend, answer.timings)

    Args:
        retrieve: URL or Space id of the retrieve Space (default PIPELINE_RETRIEVE_URL or the local port of `up`).
        rerank: URL or Space id of the rerank Space.
        generate: URL or Space id of the generate Space.
        hf_token: token for private Spaces (default HF_TOKEN).
        timeout: seconds each stage may take.
        transport: "gradio_client" (default), or "rest" for Gradio's REST route with a
            pooled connection, which cuts each hop's overhead (see BENCHMARKS.md).
    """

    def __init__(
        self,
        retrieve: str | None = None,
        rerank: str | None = None,
        generate: str | None = None,
        *,
        hf_token: str | None = None,
        timeout: float = 120,
        transport: str = "gradio_client",
    ):
        token = hf_token or os.environ.get("HF_TOKEN") or None
        kw = dict(hf_token=token, timeout=timeout, transport=transport)
        self.retrieve = StageClient("retrieve", retrieve or default_url("retrieve"), **kw)
        self.rerank = StageClient("rerank", rerank or default_url("rerank"), **kw)
        self.generate = StageClient("generate", generate or default_url("generate"), **kw)

    # -- the documents behind the answers (the retrieve Space's write endpoints) -----------------

    def sources(self) -> list[dict]:
        """What the retrieve Space has indexed: [{"source", "documents", "chunks"}, ...]."""
        return _rows(self.retrieve.call("/list_sources"))

    def add_documents(self, paths: list[str], token: str, *, progress=None) -> str:
        """Upload files to the retrieve Space and index them; returns its report.

        Args:
            paths: local files (.txt, .md, .pdf, .html, .jsonl).
            token: the retrieve Space's write token (RETRIEVE_WRITE_TOKEN).
            progress: optional `progress(fraction, description)` callback, fed by the Space.
        """
        from gradio_client import handle_file

        if not paths:
            raise ValueError("No files given. Choose at least one .txt, .md, .pdf, .html or .jsonl file.")
        report = None
        for report in self.retrieve.stream(
            "/add_documents", [handle_file(str(p)) for p in paths], token, progress=progress
        ):
            pass
        return report

    def delete_source(self, source: str, token: str) -> str:
        """Remove one source (as `sources()` names it) from the retrieve Space's index."""
        return self.retrieve.call("/delete_source", source, token)

    # -- answers ------------------------------------------------------------------------------

    def ask(self, query: str, k_retrieve: int = 20, k_rerank: int = 5, *, history=None, **generation) -> Answer:
        """Answer `query`. `generation` takes max_tokens, temperature, top_p, top_k."""
        answer = None
        for event, value in self.stream(query, k_retrieve, k_rerank, history=history, **generation):
            if event == "done":
                answer = value
        return answer

    def stream(
        self, query: str, k_retrieve: int = 20, k_rerank: int = 5, *, history=None, **generation
    ) -> Iterator[tuple[str, object]]:
        """Yield ("sources", list[Source]) before the first token, then ("delta", text) as the
        answer grows (the full text so far), then ("done", Answer)."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError("The question is empty.")
        timings: dict = {}
        notes: list[str] = []
        t0 = time.perf_counter()
        queries = search_queries(query, history)
        searched = queries[-1]  # with the conversation's subject, for the reranker too
        hits = fuse_rankings([_rows(self.retrieve.call("/retrieve", q, k_retrieve, "hybrid", "")) for q in queries])[
            :k_retrieve
        ]
        timings["retrieve_s"] = time.perf_counter() - t0
        unique = dedupe(hits)
        if len(unique) < len(hits):
            n = len(hits) - len(unique)
            notes.append(f"{n} duplicate passage{'s' if n != 1 else ''} removed before reranking.")

        rerank_method = "none"
        t = time.perf_counter()
        try:
            ranked = _rows(self.rerank.call("/rerank", searched, _table(unique), k_rerank)) if unique else []
            rerank_method = ranked[0].get("rerank_method", "") if ranked else "none (nothing to rerank)"
            if "fallback" in rerank_method:
                notes.append(f"Reranker fallback: {rerank_method}. The rerank Space's /status says why.")
        except StageError as exc:
            ranked = unique[:k_rerank]
            rerank_method = "retrieval order (reranker unavailable)"
            notes.append(f"Reranker unavailable, so the sources are in retrieval order: {exc}")
        timings["rerank_s"] = time.perf_counter() - t

        sources = [
            Source(
                n=i + 1,
                id=str(r.get("id", i + 1)),
                text=str(r.get("text", "")),
                source=str(r.get("source") or ""),
                title=str(r.get("title") or ""),
                retrieve_score=r.get("score"),
                rerank_score=r.get("rerank_score"),
            )
            for i, r in enumerate(ranked)
        ]
        yield "sources", sources

        docs = [{"id": s.id, "text": s.text, "source": s.source, "title": s.title} for s in sources]
        args = (
            query,
            docs,
            history or [],
            generation.get("max_tokens", 256),
            generation.get("temperature", 0.0),
            generation.get("top_p", 0.95),
            generation.get("top_k", 40),
        )
        t = time.perf_counter()
        first = None
        text, info = "", {}
        for out in self.generate.stream("/answer", *args):
            if not isinstance(out, (list, tuple)) or len(out) != 2:
                continue
            text, info = out
            if text and first is None:
                first = time.perf_counter() - t0
            yield "delta", text
        timings["generate_s"] = time.perf_counter() - t
        timings["ttft_s"] = first
        timings["total_s"] = time.perf_counter() - t0
        timings["generate_server"] = info.get("timings", {})
        used = info.get("sources") or []
        # The generate Space may have trimmed or dropped sources; keep the numbering it used.
        kept = {str(s.get("id")): s.get("n") for s in used}
        cited = {str(c.get("id")) for c in info.get("citations", [])}
        final_sources = []
        for s in sources:
            if s.id in kept:
                s.n, s.cited = kept[s.id], s.id in cited
                final_sources.append(s)
        dropped = len(sources) - len(final_sources)
        if dropped:
            notes.append(
                f"{dropped} source{'s' if dropped != 1 else ''} did not fit the model's context budget and {'were' if dropped != 1 else 'was'} left out."
            )
        reason = (info.get("grounding") or {}).get("reason")
        if info.get("verdict") in ("likely", "not_found") and reason:
            notes.append(reason)
        scorer = info.get("evidence_scorer") or ""
        if scorer.startswith("bm25 only") and "turned off" not in scorer:
            notes.append(f"Evidence sentences chosen by BM25 alone ({scorer.removeprefix('bm25 only: ')}).")
        for a in info.get("attempts", []):
            if a.get("outcome") != "answered":
                notes.append(f"Generation backend {a.get('backend')} skipped ({a.get('outcome')}): {a.get('detail')}")
        yield (
            "done",
            Answer(
                text=text,
                sources=final_sources or sources,
                backend=info.get("backend", "unknown"),
                timings=timings,
                rerank_method=rerank_method,
                supported=info.get("supported"),
                verdict=info.get("verdict", ""),
                confidence=info.get("confidence"),
                notes=notes,
                info=info,
                search_query=searched,
            ),
        )

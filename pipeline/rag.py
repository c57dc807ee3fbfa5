"""`RAGPipeline`: retrieve, rerank and generate, composed through each Space's public API."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Iterator

from rag_contract.answer_info import AnswerInfo, Citation, UsedSource
from rag_contract.fusion import reciprocal_rank_fusion
from rag_contract.passage import Passage

from .clients import StageClient, StageError
from .config import Settings
from .followups import earlier_questions, search_queries, topic
from .stages import Stage


@dataclass
class Answer:
    """What `RAGPipeline.ask` returns."""

    text: str
    sources: list[Passage]
    backend: str
    timings: dict = field(default_factory=dict)  # client-side seconds per stage, and what each Space reported
    rerank_method: str = ""
    supported: bool | None = None  # true exactly when verdict is "answer"
    verdict: str = ""  # the generate Space's verdict: "answer", "likely" (hedged best match) or "not_found"
    confidence: float | None = None  # calibrated probability that the shown sentence answers the question
    notes: list[str] = field(default_factory=list)  # degraded paths, said out loud
    search_query: str = ""  # what retrieval searched with: the question, with earlier ones for a follow-up
    topic: str = ""  # for a follow-up, the title of the document the earlier questions found ("it")
    candidates: list[Passage] = field(default_factory=list)  # every passage sent to the generate Space, in rank order
    info: dict = field(default_factory=dict)  # the generate Space's final report, as sent
    report: AnswerInfo = field(default_factory=AnswerInfo)  # the same, read: what the pipeline and the page use

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
            "model": self.report.backend_label,
            "evidence_scorer": self.report.evidence_scorer,
            "notes": self.notes,
            "search_query": self.search_query,
            "topic": self.topic,
        }


def _rows(table: dict) -> list[dict]:
    return [dict(zip(table["headers"], r)) for r in table.get("data") or []]


def _table(rows: list[dict]) -> dict:
    headers = list(rows[0]) if rows else ["id", "text", "source", "score"]
    return {"headers": headers, "data": [[r.get(h) for h in headers] for r in rows], "metadata": None}


@dataclass
class _Run:
    """What one answer's stages report as they go: seconds per stage, notes, the reranker."""

    start: float
    timings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rerank_method: str = "none"
    topic: str = ""  # what a follow-up was taken to be about


def numbered(candidates: list[Passage], used: list[UsedSource] | None, *, cited: list[Citation] = ()) -> list[Passage]:
    """The sources the generate Space read, with its numbers (the ones the answer cites), in
    that order; new objects, so a list already shown never changes. Without its list (an older
    Space, or no answer yet), the candidates in rank order."""
    if used is None:
        return [replace(s) for s in candidates]
    by_id = {s.id: s for s in candidates}
    cited_ids = {str(c.id) for c in cited}
    out = [replace(by_id[str(u.id)], n=u.n, cited=str(u.id) in cited_ids) for u in used if str(u.id) in by_id]
    return sorted(out, key=lambda s: s.n)


def fuse_rankings(rankings: list[list[dict]], *, k: int = 60) -> list[dict]:
    """Reciprocal rank fusion of several result lists (rows with an `id`), best first; a row's
    first copy is kept. One list comes back as it is."""
    if len(rankings) == 1:
        return rankings[0]

    def key(row: dict) -> str:
        return str(row.get("id", row.get("text", "")))

    first: dict[str, dict] = {}
    for rows in rankings:
        for row in rows:
            first.setdefault(key(row), row)
    score = reciprocal_rank_fusion(([key(r) for r in rows] for rows in rankings), k=k)
    return [first[key] for key in sorted(score, key=lambda key: -score[key])]


def default_url(stage: str) -> str:
    """Where a stage is when not given: PIPELINE_<STAGE>_URL, or the local port of `up`."""
    return Settings.from_env().url(stage)


class RAGPipeline:
    """Question answering over the three Spaces.

    Usage:
        rag = RAGPipeline(retrieve="http://127.0.0.1:7861/", rerank="you/rerank", generate="you/generate")
        answer = rag.ask("What causes tides?")
        print(answer.text, [s.id for s in answer.sources], answer.backend, answer.timings)

    Args:
        retrieve: URL or Space id of the retrieve Space (default PIPELINE_RETRIEVE_URL or the local port of `up`),
            or a `Stage` (pipeline.stages): `InProcessStage` runs the Space's API in this process.
        rerank: URL, Space id or `Stage` of the rerank stage.
        generate: URL, Space id or `Stage` of the generate stage.
        hf_token: token for private Spaces (default HF_TOKEN).
        timeout: seconds each stage may take.
        transport: "gradio_client" (default), or "rest" for Gradio's REST route with a
            pooled connection, which cuts each hop's overhead (see BENCHMARKS.md).
    """

    def __init__(
        self,
        retrieve: "str | Stage | None" = None,
        rerank: "str | Stage | None" = None,
        generate: "str | Stage | None" = None,
        *,
        hf_token: str | None = None,
        timeout: float = 120,
        transport: str = "gradio_client",
    ):
        token = hf_token or Settings.from_env().hf_token or None
        kw = dict(hf_token=token, timeout=timeout, transport=transport)

        def stage(name: str, given: "str | Stage | None") -> "Stage":
            if given is None or isinstance(given, str):
                return StageClient(name, given or default_url(name), **kw)
            if not isinstance(given, Stage):
                raise TypeError(
                    f"{name} must be a URL, a Space id or a Stage (pipeline.stages), but got {type(given).__name__}"
                )
            return given

        self.retrieve = stage("retrieve", retrieve)
        self.rerank = stage("rerank", rerank)
        self.generate = stage("generate", generate)

    # -- the documents behind the answers (the retrieve Space's write endpoints) -----------------

    def documents(self) -> list[dict]:
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
        """Yield ("sources", list[Passage]) once their numbers are fixed (the generate Space's, as
        the answer will cite them, before its first token), then ("done", Answer).

        The text comes whole with "done": the generate Space judges the model's answer against
        its sources before anyone sees it, so there is no partial text to show."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError("The question is empty.")
        run = _Run(time.perf_counter())
        searched, hits = self._retrieve(query, history, k_retrieve, run)
        ranked = self._rerank(searched, hits, k_rerank, run)
        candidates = [Passage.from_row(i, r) for i, r in enumerate(ranked)]
        shown: list[Passage] | None = None
        text, raw, info = "", {}, AnswerInfo(status="generating")
        for text, raw, info in self._generate(query, candidates, history, generation, run):
            if shown is None and (info.sources is not None or text):
                shown = numbered(candidates, info.sources)
                yield "sources", shown
        final = numbered(candidates, info.sources, cited=info.citations)
        answer = self._answer(text, info, final or candidates, searched, run)
        answer.info = raw
        answer.candidates = candidates
        yield "done", answer

    def _retrieve(self, query: str, history, k: int, run: "_Run") -> tuple[str, list[dict]]:
        """The passages for `query`: a follow-up also searches with the conversation's subject."""
        t = time.perf_counter()
        context = earlier_questions(query, history)
        about = topic(_rows(self.retrieve.call("/retrieve", " ".join(context), 1, "hybrid", ""))) if context else ""
        run.topic = about
        queries = search_queries(query, history, about=about)
        hits = fuse_rankings([_rows(self.retrieve.call("/retrieve", q, k, "hybrid", "")) for q in queries])[:k]
        run.timings["retrieve_s"] = time.perf_counter() - t
        return queries[-1], hits  # the last query holds the subject: the reranker reads it too

    def _rerank(self, searched: str, hits: list[dict], k: int, run: "_Run") -> list[dict]:
        """The best `k` hits by the rerank Space (which drops empty and repeated passages), or
        the retrieval order when it is down. Reads the rows' `rerank_fallback`, not their labels."""
        t = time.perf_counter()
        try:
            ranked = _rows(self.rerank.call("/rerank", searched, _table(hits), k)) if hits else []
            run.rerank_method = ranked[0].get("rerank_method", "") if ranked else "none (nothing to rerank)"
            if ranked and ranked[0].get("rerank_fallback"):
                run.notes.append(f"Reranker fallback: {run.rerank_method}. The rerank Space's /status says why.")
        except StageError as exc:
            ranked = hits[:k]
            run.rerank_method = "retrieval order (reranker unavailable)"
            run.notes.append(f"Reranker unavailable, so the sources are in retrieval order: {exc}")
        run.timings["rerank_s"] = time.perf_counter() - t
        return ranked

    def _generate(self, query: str, candidates: list[Passage], history, generation: dict, run: "_Run"):
        """(text, info as sent, info read) for each message of the generate Space's /answer."""
        docs = [s.document() for s in candidates]
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
        info = AnswerInfo(status="generating")
        for out in self.generate.stream("/answer", *args):
            if not isinstance(out, (list, tuple)) or len(out) != 2:
                continue
            text, raw = out
            try:
                info = AnswerInfo.from_dict(raw)
            except ValueError as exc:
                raise StageError(
                    "generate", self.generate.url, str(exc), "Update the generate Space to this version."
                ) from exc
            if text and "ttft_s" not in run.timings:  # the first text a person sees
                run.timings["ttft_s"] = time.perf_counter() - run.start
            yield text, raw or {}, info
        run.timings["generate_s"] = time.perf_counter() - t
        run.timings.setdefault("ttft_s", None)
        run.timings["total_s"] = time.perf_counter() - run.start
        run.timings["generate_server"] = info.timings

    @staticmethod
    def _answer(text: str, info: AnswerInfo, sources: list[Passage], searched: str, run: "_Run") -> Answer:
        notes = list(run.notes)
        used = info.sources
        if used is not None and len(used) < len(sources):
            n = len(sources) - len(used)
            notes.append(
                f"{n} source{'s' if n != 1 else ''} did not fit the model's context budget and {'were' if n != 1 else 'was'} left out."
            )
        if info.verdict in ("likely", "not_found") and info.reason:
            notes.append(info.reason)
        if info.reader_fallback:
            notes.append(f"The answer reader did not load, so it did not choose the sentence ({info.reader}).")
        if info.evidence_fallback:
            notes.append(f"Evidence sentences chosen by BM25 alone ({info.evidence_scorer}).")
        for a in info.attempts:
            if a.get("outcome") != "answered":
                notes.append(f"Generation backend {a.get('backend')} skipped ({a.get('outcome')}): {a.get('detail')}")
        return Answer(
            text=text,
            sources=sources,
            backend=info.backend,
            timings=run.timings,
            rerank_method=run.rerank_method,
            supported=info.supported,
            verdict=info.verdict,
            confidence=info.confidence,
            notes=notes,
            report=info,
            search_query=searched,
            topic=run.topic,
        )

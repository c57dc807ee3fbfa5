"""The Space's public endpoints: input checks, then a call into `Retriever`.

Each method is registered in app.py under its `api_name`; its docstring becomes the
Gradio API page. Errors reach the caller as `gr.Error` messages that say what to do.
"""

from __future__ import annotations

import hmac
import logging
import re
from pathlib import Path

import gradio as gr
import pandas as pd

from .config import Settings
from .documents import IngestError, load_file
from .filters import FilterError
from .index import MODES, Hit, IndexCorruptError, IndexMismatchError, IndexWriteError
from .retriever import Retriever
from .stores import IndexUnavailable

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 10_000
MAX_K = 1000
# `url` and `distance` are the columns ai-blueprint clients read from /similarity_search.
# New columns go at the end: callers that read cells by position keep working.
COLUMNS = ["id", "text", "source", "score", "title", "doc_id", "position", "url", "distance", "page", "section"]


def hits_table(hits: list[Hit]) -> pd.DataFrame:
    rows = [
        [
            h.chunk.id,
            h.chunk.text,
            h.chunk.source,
            round(h.score, 6),
            h.chunk.title,
            h.chunk.doc_id,
            h.chunk.position,
            chunk_url(h.chunk),
            h.distance,
            *location(h.chunk),
        ]
        for h in hits
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def location(chunk) -> tuple[str, str]:
    """The chunk's PDF page and section heading, "" when unknown (or indexed before they were kept)."""
    meta = chunk.metadata if isinstance(chunk.metadata, dict) else {}
    return str(meta.get("page") or ""), str(meta.get("section") or "")


_MARKUP = [
    (re.compile(r"^\s*#{1,6}\s+", re.M), ""),  # heading marks
    (re.compile(r"^\s*\|?[\s:|-]+\|[\s:|-]*$", re.M), ""),  # a table's |---|---| rule
    (re.compile(r"\s*\|\s*"), " · "),  # table cells
    (re.compile(r"(\*\*|__|`)"), ""),  # bold and code marks
    (re.compile(r"\[([^\]]+)\]\([^)]+\)"), r"\1"),  # [link](url) -> link
]


def plain_text(text: str, limit: int = 280) -> str:
    """A chunk as a person reads it in a table cell: Markdown marks and table pipes removed,
    on one line, cut at a word near `limit` characters."""
    for pattern, repl in _MARKUP:
        text = pattern.sub(repl, text)
    text = re.sub(r"(?: ·)+ ", " · ", " ".join(text.split())).strip(" ·")
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _page(source: str, page: str) -> str:
    """ "page 3", or "slide 3" for a PowerPoint file; "" without a page."""
    return f"{'slide' if str(source).lower().endswith('.pptx') else 'page'} {page}" if page else ""


def readable_hits(table: pd.DataFrame) -> pd.DataFrame:
    """/retrieve's table for people: position, plain passage, where it is from, score."""
    where = [
        " · ".join(x for x in (r["source"], _page(r["source"], r["page"]), r["section"]) if x)
        for _, r in table.iterrows()
    ]
    return pd.DataFrame(
        {
            "#": range(1, len(table) + 1),
            "passage": [plain_text(str(t)) for t in table["text"]],
            "from": where,
            "score": table["score"].astype(float).round(3),
        }
    )


def chunk_url(chunk) -> str:
    """The document's URL when its metadata has one (a JSONL `url` key), else its source name."""
    url = chunk.metadata.get("url") if isinstance(chunk.metadata, dict) else None
    return str(url) if url else chunk.source


def check_query(query) -> str:
    if not isinstance(query, str):
        raise gr.Error(f"query must be text, but got {type(query).__name__}.")
    if not query.strip():
        raise gr.Error("The query is empty. Type a question or some keywords.")
    if len(query) > MAX_QUERY_CHARS:
        raise gr.Error(
            f"The query has {len(query):,} characters; the limit is {MAX_QUERY_CHARS:,}. Shorten it to the question itself."
        )
    return query.strip()


def check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, float)) or k != int(k):
        raise gr.Error(f"k must be a whole number, but got {k!r}.")
    if not 1 <= int(k) <= MAX_K:
        raise gr.Error(f"k must be between 1 and {MAX_K}, but got {int(k)}.")
    return int(k)


class RetrieveAPI:
    """The Retrieve Space's endpoints over one `Retriever` (one model per process)."""

    def __init__(self, settings: Settings | None = None, retriever: Retriever | None = None):
        self.settings = settings or Settings.from_env()
        self.retriever = retriever or Retriever.from_settings(self.settings)
        self.startup_message = ""

    def start(self) -> str:
        """Load the model and index; index the default corpus when the index is empty."""
        try:
            self.retriever.warm_up()
        except (IndexMismatchError, IndexCorruptError) as exc:
            self.startup_message = str(exc)
            raise
        if len(self.retriever) == 0 and self.settings.corpus:
            present = [p for p in self.settings.corpus if Path(p).exists()]
            if present:
                report = self.retriever.ingest_paths(present)
                names = ", ".join(Path(p).name for p in present)  # names, not server paths: the page shows this
                self.startup_message = f"Indexed the default corpus ({names}). " + report.summary()
            else:
                self.startup_message = "The index is empty and no default corpus was found: upload documents to start."
        else:
            self.startup_message = "Loaded the saved index."
        log.info(self.startup_message)
        return self.startup_message

    def retrieve(self, query: str, k: int = 5, mode: str = "hybrid", filters: str = "") -> pd.DataFrame:
        """Search the indexed documents and return the best chunks, best first.

        Args:
            query: the question or keywords to search for (1 to 10,000 characters).
            k: how many chunks to return (1 to 1000).
            mode: "dense" (embedding cosine), "bm25" (keyword) or "hybrid" (both, fused).
            filters: optional metadata filter, clauses joined by ';', for example "source=report.pdf; title~climate". Operators: = (equal), != (not equal), ~ (contains). Fields: source, title, doc_id, id, meta.<key>.

        Returns:
            A table, best first, with columns id, text, source, score (higher is better), title, doc_id, position, url (the document's URL or source name), distance (cosine distance to the query, lower is closer; empty in bm25 mode), page (a PDF's page, "3" or "3-4"; else empty) and section (the Markdown or HTML heading the chunk sits under; else empty).
        """
        query, k = check_query(query), check_k(k)
        if mode not in MODES:
            raise gr.Error(f"mode must be one of {', '.join(MODES)}, but got {mode!r}.")
        if filters is not None and not isinstance(filters, str):
            raise gr.Error(f"filters must be text such as 'source=report.pdf', but got {type(filters).__name__}.")
        try:
            return hits_table(self.retriever.search(query, k=k, mode=mode, filters=filters or ""))
        except (FilterError, IndexUnavailable) as exc:
            raise gr.Error(str(exc)) from None

    def similarity_search(self, query: str, k: int = 5) -> pd.DataFrame:
        """Hybrid search, under the name the ai-blueprint retrieve Space uses.

        Args:
            query: the question or keywords to search for.
            k: how many chunks to return (1 to 1000).

        Returns:
            The same table as /retrieve: id, text, source, score, title, doc_id, position, url, distance.
        """
        return self.retrieve(query, k, "hybrid", "")

    def retrieve_for_people(self, query: str, k: int = 5, mode: str = "hybrid", filters: str = "") -> pd.DataFrame:
        """UI handler: the same search as /retrieve, as a table a person reads."""
        return readable_hits(self.retrieve(query, k, mode, filters))

    def _check_token(self, token) -> None:
        expected = self.settings.write_token
        if not expected:
            raise gr.Error(
                "Uploads are disabled on this Space. Set the RETRIEVE_WRITE_TOKEN environment variable (a Space secret) and pass the same value as token."
            )
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), expected.encode()):
            raise gr.Error("Wrong write token. Pass the value of RETRIEVE_WRITE_TOKEN as token.")

    def add_documents(self, files: list[str] | None, token: str, progress: gr.Progress = gr.Progress()) -> str:
        """Chunk, embed and index uploaded files (.txt, .md, .pdf, .html, .jsonl in BEIR form, .docx, .pptx, .xlsx, or a .zip of them).

        Args:
            files: the files to index (at most RETRIEVE_MAX_FILES, RETRIEVE_MAX_FILE_MB each, RETRIEVE_MAX_UPLOAD_MB together).
            token: the write token (the value of RETRIEVE_WRITE_TOKEN on the Space).

        Returns:
            A report: chunks added, duplicates skipped, and each file that was refused and why.
        """
        self._check_token(token)
        if not files:
            raise gr.Error(
                "No files were given. Upload at least one .txt, .md, .pdf, .html, .jsonl, .docx, .pptx, .xlsx or .zip file."
            )
        paths = self._upload_paths(files)
        docs, errors = [], []
        for path in paths:
            # Uploaded files keep their original name as the last path component; any folders in
            # it are dropped, so a name like ../../x.md is stored as the source x.md.
            name = path.name
            try:
                docs.extend(load_file(path, name, max_bytes=self.settings.max_file_bytes))
            except IngestError as exc:
                errors.append(str(exc))
        if not docs:
            raise gr.Error("Nothing was indexed.\n" + "\n".join(errors))
        try:
            report = self.retriever.ingest(docs, progress=lambda frac, desc: progress(frac, desc=desc))
        except IndexWriteError as exc:
            raise gr.Error(str(exc)) from None
        report.errors = errors
        return report.summary()

    def _upload_paths(self, files) -> list[Path]:
        """The uploaded files' paths, after the checks on their number and total size."""
        if isinstance(files, (str, dict)):
            files = [files]
        if not isinstance(files, (list, tuple)):
            raise gr.Error(f"files must be a list of uploaded files, but got {type(files).__name__}.")
        s = self.settings
        if len(files) > s.max_files:
            raise gr.Error(
                f"{len(files)} files in one request; the limit is {s.max_files}. Upload them in several requests, or raise RETRIEVE_MAX_FILES."
            )
        paths = []
        for f in files:
            path = f.get("path") if isinstance(f, dict) else f
            if not isinstance(path, (str, Path)) or not str(path):
                raise gr.Error(
                    f"Each file must be an uploaded file (use gradio_client.handle_file), but got {type(f).__name__}."
                )
            paths.append(Path(path))
        total = sum(p.stat().st_size for p in paths if p.is_file())
        if total > s.max_upload_bytes:
            raise gr.Error(
                f"The files add up to {total / 2**20:.1f} MiB; one request takes at most "
                f"{s.max_upload_bytes / 2**20:.0f} MiB. Upload them in several requests, or raise "
                "RETRIEVE_MAX_UPLOAD_MB."
            )
        return paths

    def delete_source(self, source: str, token: str) -> str:
        """Remove every chunk of one source from the index.

        Args:
            source: the source name, as shown in the `source` column of /retrieve.
            token: the write token (the value of RETRIEVE_WRITE_TOKEN on the Space).

        Returns:
            How many chunks were removed.
        """
        self._check_token(token)
        if not isinstance(source, str) or not source.strip():
            raise gr.Error("Give the source to delete, as shown in the source column of /retrieve.")
        try:
            removed = self.retriever.delete_source(source.strip())
        except IndexWriteError as exc:
            raise gr.Error(str(exc)) from None
        if not removed:
            raise gr.Error(
                f"No chunks have source '{source.strip()}'. Check the source column of /retrieve for the exact name."
            )
        return f"Removed {removed} chunks of '{source.strip()}'."

    def list_sources(self) -> pd.DataFrame:
        """List what is indexed, one row per source.

        Returns:
            A table with columns source (the name /delete_source takes), documents and chunks, sorted by source.
        """
        return pd.DataFrame(self.retriever.sources(), columns=["source", "documents", "chunks"])

    def header(self) -> str:
        """UI: one line on the current index (not the start-up message, which goes stale)."""
        st = self.stats()
        uploads = (
            "uploads enabled (write token set)"
            if st["uploads_enabled"]
            else "uploads disabled (set RETRIEVE_WRITE_TOKEN to enable them)"
        )
        return f"**Index:** {st['documents']} documents, {st['chunks']} chunks from {st['sources']} sources · model `{st['model']}` · {uploads}"

    def stats(self) -> dict:
        """Describe the index.

        Returns:
            documents, chunks, sources, model, dimension, chunk size, backend, and uploads_enabled (whether a write token is set).
        """
        return {**self.retriever.stats(), "uploads_enabled": bool(self.settings.write_token)}

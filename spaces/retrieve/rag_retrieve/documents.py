"""Domain types and file loaders: turn files on disk into `Document`s.

Every loader raises `IngestError` with a message that names the file, says what is
wrong and what to do about it. Nothing here touches the index.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

SUPPORTED_EXTENSIONS = (".txt", ".md", ".pdf", ".html", ".htm", ".jsonl", ".docx", ".pptx", ".xlsx", ".zip")
MAX_PDF_PAGES = 5000
MAX_ARCHIVE_MEMBERS = 1000
MAX_COMPRESSION_RATIO = 100  # zip members packed tighter than this are refused as likely bombs


class IngestError(ValueError):
    """A file could not be turned into documents. The message says why and what to do."""


@dataclass(frozen=True)
class Document:
    """One source text before chunking."""

    id: str
    text: str
    source: str
    title: str = ""
    metadata: dict = field(default_factory=dict)
    # Where a reader finds a passage: the character offset at which each PDF page starts, and
    # (offset, heading) for each Markdown or HTML heading. Chunks take theirs from these.
    pages: tuple[int, ...] = ()
    sections: tuple[tuple[int, str], ...] = ()
    first_page: int = 1  # the number of the page at `pages[0]` (a slide of a deck, one document a slide)


@dataclass(frozen=True)
class Chunk:
    """A span of a document, the unit that is embedded and indexed."""

    id: str
    doc_id: str
    text: str
    source: str
    title: str
    position: int  # index of the chunk within its document
    start: int  # character offsets into Document.text
    end: int
    metadata: dict = field(default_factory=dict)

    @property
    def embed_text(self) -> str:
        """What the models see: the title is part of what is embedded and matched."""
        return f"{self.title}\n{self.text}" if self.title else self.text


def _decode(raw: bytes, name: str) -> str:
    if b"\x00" in raw:
        raise IngestError(
            f"{name}: looks like a binary file (it contains NUL bytes). Upload plain text, Markdown, HTML, PDF or JSONL."
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"{name}: is not valid UTF-8 (byte {exc.start}). Re-save it as UTF-8, for example with `iconv -f latin1 -t utf-8`."
        ) from None


def _require_text(text: str, name: str) -> str:
    if not text.strip():
        raise IngestError(f"{name}: has no text to index (the file is empty or only whitespace).")
    return text


def load_text(raw: bytes, name: str, source: str) -> list[Document]:
    text = _require_text(_decode(raw, name), name)
    title = Path(name).stem
    sections: tuple[tuple[int, str], ...] = ()
    if name.lower().endswith(".md"):
        sections = markdown_sections(text)
        title = next((h for _, h, level in _headings(text) if level == 1), title)
    return [Document(id=source, text=text, source=source, title=title, sections=sections)]


_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
_MD_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)


def _headings(text: str) -> list[tuple[int, str, int]]:
    """(offset, heading, level) of each Markdown ATX heading outside code fences."""
    fenced = [m.span() for m in _MD_FENCE.finditer(text)]
    return [
        (m.start(), m.group(2).strip(), len(m.group(1)))
        for m in _MD_HEADING.finditer(text)
        if not any(a <= m.start() < b for a, b in fenced)
    ]


def markdown_sections(text: str) -> tuple[tuple[int, str], ...]:
    """(offset, heading) for each Markdown heading, so a chunk can name the section it is in."""
    return tuple((offset, heading) for offset, heading, _ in _headings(text))


# Tags whose text is never content: code, styling, and page furniture.
_HTML_BOILERPLATE = (
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "svg",
    "iframe",
)


def load_html(raw: bytes, name: str, source: str) -> list[Document]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode(raw, name), "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else Path(name).stem
    for tag in soup(_HTML_BOILERPLATE):
        tag.decompose()
    if soup.title:
        soup.title.decompose()
    body = soup.find("main") or soup.find("article") or soup.body or soup
    headings = [h.get_text(" ", strip=True) for h in body.find_all(["h1", "h2", "h3", "h4", "h5", "h6"])]
    lines = [line.strip() for line in body.get_text("\n").splitlines()]
    text = "\n".join(line for line in lines if line)
    sections, at = [], 0
    for heading in filter(None, headings):  # found in order in the flattened text
        first = heading.split()[0]
        found = text.find(first, at)
        if found >= 0:
            sections.append((found, heading))
            at = found + len(first)
    return [Document(id=source, text=_require_text(text, name), source=source, title=title, sections=tuple(sections))]


def load_pdf(raw: bytes, name: str, source: str) -> list[Document]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(
                f"{name}: the PDF is encrypted. Remove the password (for example `qpdf --decrypt`) and upload it again."
            )
        if len(reader.pages) > MAX_PDF_PAGES:
            raise IngestError(
                f"{name}: has {len(reader.pages):,} pages, over the limit of {MAX_PDF_PAGES:,}. Split it into smaller PDFs."
            )
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or Path(name).stem
    except IngestError:
        raise
    except LimitReachedError as exc:
        raise IngestError(
            f"{name}: refused: a stream in it unpacks past pypdf's safety limit ({exc}), as a decompression bomb does. Re-export the PDF from its source."
        ) from None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as exc:
        raise IngestError(
            f"{name}: is not a readable PDF ({type(exc).__name__}: {exc}). Check that the file is complete and not corrupt."
        ) from None
    starts, parts, at = [], [], 0
    for page in pages:  # a page with no text still counts, so page numbers stay the PDF's own
        starts.append(at)
        if page.strip():
            parts.append(page.strip())
            at += len(parts[-1]) + 2
    text = "\n\n".join(parts)
    if not text:
        raise IngestError(
            f"{name}: the PDF has no extractable text (scanned pages?). Run OCR on it first, for example with `ocrmypdf`."
        )
    return [Document(id=source, text=text, source=source, title=str(title), pages=tuple(starts))]


def load_jsonl(raw: bytes, name: str, source: str) -> list[Document]:
    """BEIR corpus form: one object per line with `_id`, `title`, `text`; other keys become metadata."""
    docs: list[Document] = []
    for lineno, line in enumerate(_decode(raw, name).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IngestError(
                f"{name}, line {lineno}: is not valid JSON ({exc.msg}). Each line must be one JSON object."
            ) from None
        if not isinstance(obj, dict):
            raise IngestError(
                f"{name}, line {lineno}: expected a JSON object with `_id` and `text`, got {type(obj).__name__}."
            )
        text = obj.get("text")
        doc_id = obj.get("_id", obj.get("id"))
        if not isinstance(text, str) or doc_id is None:
            raise IngestError(
                f"{name}, line {lineno}: needs a string `text` and an `_id` (BEIR corpus form); it has keys {sorted(obj)}."
            )
        title = obj.get("title") or ""
        if not text.strip() and not str(title).strip():
            continue
        meta = {k: v for k, v in obj.items() if k not in ("_id", "id", "title", "text")}
        docs.append(Document(id=str(doc_id), text=text, source=source, title=str(title), metadata=meta))
    if not docs:
        raise IngestError(f"{name}: contains no documents with text.")
    return docs


def _check_archive(members, name: str, max_bytes: int) -> None:
    """Refuse a whole archive that is too many files, too large unpacked, or a likely bomb."""
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise IngestError(
            f"{name}: holds {len(members):,} files, over the limit of {MAX_ARCHIVE_MEMBERS:,}. Upload it in parts."
        )
    for m in members:
        if m.file_size > MAX_COMPRESSION_RATIO * max(m.compress_size, 1) and m.file_size > 64 * 2**10:
            raise IngestError(
                f"{name}: refused: {m.filename} unpacks to {m.file_size // max(m.compress_size, 1):,} times its packed size, as a decompression bomb does."
            )
    total = sum(m.file_size for m in members)
    if total > max_bytes:
        raise IngestError(
            f"{name}: unpacks to {total / 2**20:.1f} MiB, over the {max_bytes / 2**20:.0f} MiB limit. Upload it in parts, or raise RETRIEVE_MAX_FILE_MB."
        )


def _load_member(archive, m, parts: list[str], ext: str, name: str, source: str, max_bytes: int) -> list[Document]:
    """One archive member's documents, filed under the archive's source."""
    member_source = f"{source}/{'/'.join(parts)}"
    with archive.open(m) as f:
        data = f.read(max_bytes + 1)  # the header's size can lie; never read past the limit
    if len(data) > max_bytes:
        raise IngestError(f"{name}: {m.filename} unpacks past the {max_bytes / 2**20:.0f} MiB limit.")
    if not data.strip():
        return []
    return [
        dataclasses.replace(d, id=member_source if d.id == member_source else f"{member_source}#{d.id}", source=source)
        for d in _LOADERS[ext](data, f"{name}/{'/'.join(parts)}", member_source)
    ]


def load_zip(raw: bytes, name: str, source: str, *, max_bytes: int = 50 * 2**20) -> list[Document]:
    """The supported files inside a .zip: one source (the archive, so deleting it removes them
    all), one document per file, with id `<archive>/<path inside>`.

    Read in memory, never extracted to disk, so member names such as `../../x.md` cannot write
    anywhere. Refused whole: more than MAX_ARCHIVE_MEMBERS files, more than `max_bytes` unpacked,
    a member packed more than MAX_COMPRESSION_RATIO times (a decompression bomb), or nothing
    readable inside. Archives inside archives are skipped.
    """
    import io
    import posixpath
    import zipfile

    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise IngestError(f"{name}: is not a readable .zip archive ({exc}). Check that the file is complete.") from None
    _check_archive(members, name, max_bytes)
    docs: list[Document] = []
    skipped = []
    for m in members:
        inner = posixpath.normpath(m.filename.replace("\\", "/")).lstrip("/")
        parts = [p for p in inner.split("/") if p not in ("", ".", "..")]
        ext = Path(inner).suffix.lower()
        if not parts or ext not in _LOADERS or ext == ".zip" or any(p.startswith(".") for p in parts):
            skipped.append(m.filename)
            continue
        try:
            docs.extend(_load_member(archive, m, parts, ext, name, source, max_bytes))
        except IngestError:
            raise
        except (zipfile.BadZipFile, ValueError, OSError, RuntimeError) as exc:  # RuntimeError: encrypted member
            raise IngestError(f"{name}: cannot read {m.filename} ({exc}).") from None
    if not docs:
        raise IngestError(
            f"{name}: has no supported files with text inside (found: "
            f"{', '.join(skipped[:5]) or 'nothing'}). Supported: "
            f"{', '.join(e for e in SUPPORTED_EXTENSIONS if e != '.zip')}."
        )
    return docs


_LOADERS = {
    ".txt": load_text,
    ".md": load_text,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".jsonl": load_jsonl,
    ".zip": load_zip,
}
for _ext in (".docx", ".pptx", ".xlsx"):  # office.py imports this module, so its loaders are looked up late
    _LOADERS[_ext] = lambda raw, name, source, max_bytes=50 * 2**20, _k=_ext[1:]: getattr(
        importlib.import_module(f"{__package__}.office"), f"load_{_k}"
    )(raw, name, source, max_bytes=max_bytes)


def load_file(path: str | os.PathLike, source: str | None = None, *, max_bytes: int = 50 * 2**20) -> list[Document]:
    """Read one file into documents.

    Args:
        path: the file to read.
        source: the name stored with its chunks (default: the file name).
        max_bytes: refuse larger files rather than exhaust memory.
    """
    path = Path(path)
    name = path.name
    source = source or name
    ext = path.suffix.lower()
    if ext not in _LOADERS:
        raise IngestError(
            f"{name}: unsupported file type '{ext or '(none)'}'. Supported: {', '.join(SUPPORTED_EXTENSIONS)}."
        )
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise IngestError(_too_big(name, size, max_bytes))
        raw = path.read_bytes()
    except OSError as exc:
        raise IngestError(
            f"{name}: cannot be read ({exc.strerror or exc}). Check that it exists and is readable."
        ) from None
    return load_bytes(raw, name, source, max_bytes=max_bytes)


def load_bytes(raw: bytes, name: str, source: str, *, max_bytes: int = 50 * 2**20) -> list[Document]:
    """A file's contents into documents, by the extension of `name` (what bulk ingest reads)."""
    ext = Path(name).suffix.lower()
    if ext not in _LOADERS:
        raise IngestError(
            f"{name}: unsupported file type '{ext or '(none)'}'. Supported: {', '.join(SUPPORTED_EXTENSIONS)}."
        )
    if len(raw) > max_bytes:
        raise IngestError(_too_big(name, len(raw), max_bytes))
    if not raw.strip():
        raise IngestError(f"{name}: is empty.")
    if ext in (".zip", ".docx", ".pptx", ".xlsx"):  # archives: their unpacked size is checked too
        return _LOADERS[ext](raw, name, source, max_bytes=max_bytes)
    return _LOADERS[ext](raw, name, source)


def _too_big(name: str, size: int, max_bytes: int) -> str:
    return f"{name}: is {size / 2**20:.1f} MiB, over the {max_bytes / 2**20:.0f} MiB limit. Split it, or raise RETRIEVE_MAX_FILE_MB."


def iter_files(root: str | os.PathLike) -> Iterator[tuple[Path, str]]:
    """Yield (path, source) for every supported file under `root`, in a stable order.

    `source` is the path relative to the folder, so that two `README.md` in different
    folders stay apart.
    """
    root = Path(root)
    if root.is_file():
        yield root, root.name
        return
    for path in sorted(root.rglob("*")):
        if (
            path.is_file()
            and path.suffix.lower() in _LOADERS
            and not any(p.startswith(".") for p in path.relative_to(root).parts)
        ):
            yield path, path.relative_to(root).as_posix()


def load_paths(paths: Iterable[str | os.PathLike], *, max_bytes: int = 50 * 2**20) -> tuple[list[Document], list[str]]:
    """Load folders and files. Returns the documents and one error message per file that failed."""
    docs: list[Document] = []
    errors: list[str] = []
    for root in paths:
        if not Path(root).exists():
            errors.append(f"{root}: does not exist.")
            continue
        for path, source in iter_files(root):
            try:
                docs.extend(load_file(path, source, max_bytes=max_bytes))
            except IngestError as exc:
                errors.append(str(exc))
    return docs, errors

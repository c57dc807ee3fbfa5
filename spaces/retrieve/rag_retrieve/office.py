"""Word, PowerPoint and Excel files (.docx, .pptx, .xlsx) into documents, with what a source card needs.

One document per section, so a passage never spans two:
- .docx: paragraphs and tables in body order; each heading starts a document, with the heading as
  its `section`.
- .pptx: a document per slide, whose `page` is the slide number (a source card says "slide 3"),
  with the slide title as its section; text frames, tables and speaker notes.
- .xlsx: a document per sheet, the sheet name as its section, each row as readable text
  ("Header: value; ...").

Read with python-docx, python-pptx and openpyxl (no hand-parsed XML). An Office file is a zip, so
its members are checked as an uploaded .zip's are (size, count, compression ratio) before any
parser opens it: a decompression bomb, an encrypted (password-protected) file or a truncated one
gets a sentence that says what to do, and nothing is indexed.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from .documents import Document, IngestError, _check_archive, _require_text

MAX_SHEET_ROWS = 100_000  # rows read per sheet; a larger sheet is refused, not cut silently
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted Office files are OLE containers, not zips


def _open(raw: bytes, name: str, max_bytes: int) -> io.BytesIO:
    """The file as a checked zip, or an IngestError that says why it cannot be read."""
    kind = Path(name).suffix.lower().lstrip(".")
    if raw.startswith(_OLE_MAGIC):
        raise IngestError(
            f"{name}: is password-protected (encrypted) or an old binary Office file. Save it without a password "
            f"as .{kind} and upload it again."
        )
    try:
        members = [m for m in zipfile.ZipFile(io.BytesIO(raw)).infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
        raise IngestError(
            f"{name}: is not a readable .{kind} file (it is truncated or damaged). Open it in its application, "
            "save it again, and upload that copy."
        ) from None
    _check_archive(members, name, max_bytes)
    return io.BytesIO(raw)


def _damaged(name: str, exc: Exception) -> IngestError:
    kind = Path(name).suffix.lower().lstrip(".")
    return IngestError(
        f"{name}: could not be read as .{kind} ({type(exc).__name__}). Open it in its application, save it again, "
        "and upload that copy."
    )


class _Parts:
    """Documents built piece by piece, one per section (a .docx heading, a slide, a sheet), so a
    passage never spans two and its card names the right one."""

    def __init__(self):
        self.parts: list[tuple[str, int | None, list[str]]] = []  # (heading, page, texts)

    def start(self, heading: str, page: int | None = None) -> None:
        self.parts.append((" ".join(heading.split()), page, []))

    def add(self, text: str) -> None:
        text = " ".join(text.split())
        if text:
            if not self.parts:
                self.start("")
            self.parts[-1][2].append(text)

    def documents(self, name: str, source: str, title: str) -> list[Document]:
        docs = []
        for k, (heading, page, texts) in enumerate(self.parts, start=1):
            text = "\n\n".join(([heading] if heading else []) + texts)
            if not texts and not (page and heading):  # an empty section; a slide's title alone is content
                continue
            docs.append(
                Document(
                    id=f"{source}#{k}",
                    text=text,
                    source=source,
                    title=title or Path(name).stem,
                    pages=(0,) if page else (),
                    sections=((0, heading),) if heading else (),
                    first_page=page or 1,
                )
            )
        if not docs:
            _require_text("", name)
        return docs


def load_docx(raw: bytes, name: str, source: str, *, max_bytes: int = 50 * 2**20) -> list[Document]:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    stream = _open(raw, name, max_bytes)
    try:
        doc = docx.Document(stream)
        out = _Parts()
        for block in doc.element.body.iterchildren():
            tag = block.tag.rsplit("}", 1)[-1]
            if tag == "p":
                para = Paragraph(block, doc)
                style = (para.style.name if para.style is not None else "") or ""
                if style.startswith(("Heading", "Title")):
                    out.start(para.text)
                else:
                    out.add(para.text)
            elif tag == "tbl":
                for row in Table(block, doc).rows:
                    out.add(" | ".join(dict.fromkeys(c.text.strip() for c in row.cells if c.text.strip())))
        title = doc.core_properties.title or ""
    except IngestError:
        raise
    except Exception as exc:  # python-docx raises many kinds on a damaged part
        raise _damaged(name, exc) from None
    return out.documents(name, source, title)


def load_pptx(raw: bytes, name: str, source: str, *, max_bytes: int = 50 * 2**20) -> list[Document]:
    from pptx import Presentation

    stream = _open(raw, name, max_bytes)
    try:
        deck = Presentation(stream)
        out = _Parts()
        for number, slide in enumerate(deck.slides, start=1):
            title = slide.shapes.title.text_frame.text if slide.shapes.title is not None else ""
            out.start(title or f"Slide {number}", page=number)
            for shape in slide.shapes:
                if shape == slide.shapes.title:
                    continue
                if shape.has_text_frame:
                    for para in shape.text_frame.paragraphs:
                        out.add("".join(run.text for run in para.runs))
                elif getattr(shape, "has_table", False) and shape.has_table:
                    for row in shape.table.rows:
                        out.add(" | ".join(c.text.strip() for c in row.cells if c.text.strip()))
            if slide.has_notes_slide:
                out.add(slide.notes_slide.notes_text_frame.text)
        title = deck.core_properties.title or ""
    except IngestError:
        raise
    except Exception as exc:
        raise _damaged(name, exc) from None
    return out.documents(name, source, title)


def load_xlsx(raw: bytes, name: str, source: str, *, max_bytes: int = 50 * 2**20) -> list[Document]:
    import openpyxl

    stream = _open(raw, name, max_bytes)
    try:
        book = openpyxl.load_workbook(stream, read_only=True, data_only=True)
        out = _Parts()
        for sheet in book.worksheets:
            out.start(sheet.title)
            headers: list[str] = []
            for i, row in enumerate(sheet.iter_rows(values_only=True)):
                if i >= MAX_SHEET_ROWS:
                    raise IngestError(
                        f"{name}: sheet '{sheet.title}' has more than {MAX_SHEET_ROWS:,} rows. Split it, or export "
                        "the part you need."
                    )
                cells = ["" if v is None else str(v).strip() for v in row]
                if not any(cells):
                    continue
                if not headers:
                    headers = cells
                    out.add("Columns: " + ", ".join(c for c in cells if c))
                    continue
                out.add("; ".join(f"{h}: {c}" if h else c for h, c in zip(headers + [""] * len(cells), cells) if c))
        book.close()
    except IngestError:
        raise
    except Exception as exc:
        raise _damaged(name, exc) from None
    return out.documents(name, source, "")

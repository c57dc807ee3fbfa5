"""Ingestion of every supported format, and the broken or hostile files it must refuse."""

from __future__ import annotations

import io
import json

import pytest
from rag_retrieve.documents import IngestError, load_file, load_paths


def make_pdf(lines: list[str], *more_pages: list[str]) -> bytes:
    """A minimal PDF with real text-showing operators, written byte by byte: a page of `lines`,
    then a page for each of `more_pages` (an empty list makes a page with no text)."""
    pages = [lines, *more_pages]
    n = len(pages)
    font = 3 + 2 * n
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{' '.join(f'{3 + 2 * i} 0 R' for i in range(n))}] /Count {n} >>",
    ]
    for i, page in enumerate(pages):
        esc = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in page]
        content = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({t}) '" for t in esc) + " ET"
        objects += [
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>",
            f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        ]
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


@pytest.fixture
def pdf_bytes():
    return make_pdf(["Photosynthesis converts light into chemical energy.", "Chlorophyll absorbs red and blue light."])


def test_txt_and_md(tmp_path):
    (tmp_path / "notes.txt").write_text("Plain notes about tides.\n\nSecond paragraph.")
    (tmp_path / "guide.md").write_text("# Deployment guide\n\nRun the app with python app.py.")
    [txt] = load_file(tmp_path / "notes.txt")
    [md] = load_file(tmp_path / "guide.md")
    assert txt.title == "notes" and "tides" in txt.text and txt.source == "notes.txt"
    assert md.title == "Deployment guide" and "python app.py" in md.text


def test_pdf_written_by_the_test(tmp_path, pdf_bytes):
    (tmp_path / "paper.pdf").write_bytes(pdf_bytes)
    [doc] = load_file(tmp_path / "paper.pdf")
    assert "Photosynthesis converts light" in doc.text
    assert "Chlorophyll absorbs" in doc.text


def test_html_keeps_visible_text_only(tmp_path):
    html = """<html><head><title>Tide tables</title><style>body{color:red}</style>
    <script>var secret = "tracking code";</script></head>
    <body><nav>Home | About | Contact</nav><main><h1>Tides</h1><p>Spring tides follow the new moon.</p></main>
    <footer>Copyright footer text</footer></body></html>"""
    (tmp_path / "page.html").write_text(html)
    [doc] = load_file(tmp_path / "page.html")
    assert doc.title == "Tide tables"
    assert "Spring tides follow the new moon." in doc.text
    for junk in ("tracking code", "color:red", "Home | About", "Copyright footer"):
        assert junk not in doc.text


def test_beir_jsonl_keeps_extra_keys_as_metadata(tmp_path):
    rows = [
        {"_id": "d1", "title": "Moon", "text": "The moon drives tides.", "year": 2020},
        {"_id": "d2", "title": "Sun", "text": "The sun also pulls on the sea."},
    ]
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    docs = load_file(tmp_path / "corpus.jsonl")
    assert [d.id for d in docs] == ["d1", "d2"]
    assert docs[0].metadata == {"year": 2020} and docs[0].title == "Moon"


def test_folder_is_recursive_and_reports_bad_files(tmp_path, pdf_bytes):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "deep.md").write_text("# Deep\n\nNested file.")
    (tmp_path / "top.pdf").write_bytes(pdf_bytes)
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9 latin-1")
    (tmp_path / "ignored.exe").write_bytes(b"MZ")
    docs, errors = load_paths([tmp_path])
    assert sorted(d.source for d in docs) == ["a/b/deep.md", "top.pdf"]
    assert len(errors) == 1 and "bad.txt" in errors[0] and "UTF-8" in errors[0]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b"   \n\n  ", "empty"),
        ("latin.txt", "café".encode("latin-1"), "not valid UTF-8"),
        ("binary.txt", b"abc\x00\x01\x02def", "binary"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", "not a readable PDF"),
        ("random.pdf", bytes(range(256)) * 10, "not a readable PDF"),
        ("bad.jsonl", b'{"_id": "1", "text": "ok"}\n{not json}\n', "line 2"),
        ("nokeys.jsonl", b'{"title": "no text or id"}\n', "needs a string `text`"),
        ("list.jsonl", b"[1, 2, 3]\n", "expected a JSON object"),
        ("script.sh", b"echo hi", "unsupported file type"),
        ("noext", b"hello", "unsupported file type"),
    ],
)
def test_bad_files_get_clear_errors(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(IngestError, match=message):
        load_file(tmp_path / name)


def test_encrypted_pdf_is_refused(tmp_path, pdf_bytes):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes)))
    writer.encrypt(user_password="s3cret", owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    (tmp_path / "locked.pdf").write_bytes(buf.getvalue())
    with pytest.raises(IngestError, match="encrypted"):
        load_file(tmp_path / "locked.pdf")


def test_scanned_pdf_without_text(tmp_path):
    (tmp_path / "scan.pdf").write_bytes(make_pdf([]))
    with pytest.raises(IngestError, match="no extractable text"):
        load_file(tmp_path / "scan.pdf")


def test_oversized_file_is_refused(tmp_path):
    (tmp_path / "big.txt").write_text("word " * 1000)
    with pytest.raises(IngestError, match="over the"):
        load_file(tmp_path / "big.txt", max_bytes=1000)


def test_a_pdf_keeps_its_page_numbers_and_markdown_its_sections():
    from rag_retrieve.chunking import locate
    from rag_retrieve.documents import load_pdf, load_text

    raw = make_pdf(["Tides follow the moon."], [], ["Sputum samples were cultured on Lowenstein-Jensen medium."])
    [doc] = load_pdf(raw, "paper.pdf", "paper.pdf")
    assert len(doc.pages) == 3  # the empty page 2 still counts: numbers are the PDF's own
    at = doc.text.index("Sputum")
    assert locate(doc, at, at + 20) == {"page": "3"}
    assert locate(doc, 0, 5) == {"page": "1"}
    assert locate(doc, 0, len(doc.text)) == {"page": "1-3"}

    md = "# Guide\n\nIntro text.\n\n## Installation\n\nRun make.\n\n```\n# not a heading\n```\n\n## Usage\n\nAsk.\n"
    [doc] = load_text(md.encode(), "guide.md", "guide.md")
    assert doc.title == "Guide" and [h for _, h in doc.sections] == ["Guide", "Installation", "Usage"]
    run = md.index("Run make")
    assert locate(doc, run, run + 9) == {"section": "Installation"}
    assert locate(doc, md.index("# not"), md.index("# not") + 5) == {"section": "Installation"}  # a code comment
    assert locate(doc, md.index("Ask."), len(md)) == {"section": "Usage"}


def test_html_keeps_its_headings_as_sections():
    from rag_retrieve.chunking import locate
    from rag_retrieve.documents import load_html

    html = b"<html><body><h1>Report</h1><p>Summary here.</p><h2>Methods</h2><p>We cultured samples.</p></body></html>"
    [doc] = load_html(html, "r.html", "r.html")
    at = doc.text.index("We cultured")
    assert locate(doc, at, at + 10) == {"section": "Methods"}

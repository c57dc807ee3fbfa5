"""Word, PowerPoint and Excel files written by the libraries that make them (python-docx,
python-pptx, openpyxl), loaded directly and uploaded through a real Retrieve Space's
/add_documents; and hostile ones (a zip bomb renamed .docx, a truncated .pptx, a password-protected
.xlsx encrypted by msoffcrypto-tool), each refused with a sentence while the index stays as it was."""

from __future__ import annotations

import io
import zipfile

import pytest
from gradio_client import Client, handle_file
from rag_retrieve.documents import IngestError, load_file

TOKEN = "office-write-token"


def make_docx(path):
    import docx

    d = docx.Document()
    d.add_heading("Installation", 1)
    d.add_paragraph("Unpack the kettle and rinse it twice before the first use.")
    d.add_heading("Warranty", 1)
    d.add_paragraph("The Brevik kettle's warranty lasts 24 months from the date of purchase.")
    table = d.add_table(rows=2, cols=2)
    for (r, c), text in {(0, 0): "Part", (0, 1): "Price", (1, 0): "Descaling filter", (1, 1): "12 EUR"}.items():
        table.cell(r, c).text = text
    d.save(path)
    return path


SLIDES = [
    ("Quarterly review", "Agenda: sales, hiring, outlook."),
    ("Sales", "Revenue of the Nordic region grew 17 percent in the third quarter."),
    ("Outlook", "We expect steady demand next year."),
]


def make_pptx(path, slides=SLIDES):
    from pptx import Presentation

    deck = Presentation()
    for title, body in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    deck.save(path)
    return path


def make_xlsx(path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Prices"
    sheet.append(["Item", "Cost"])
    sheet.append(["Titanium bolt", 3])
    staff = book.create_sheet("Staff")
    staff.append(["Name", "Role"])
    staff.append(["Ana Lindqvist", "Head of safety"])
    book.save(path)
    return path


def test_docx_keeps_its_headings_as_sections(tmp_path):
    docs = load_file(make_docx(tmp_path / "kettle.docx"))  # one document a section: a passage never spans two
    assert [d.sections for d in docs] == [((0, "Installation"),), ((0, "Warranty"),)]
    assert {d.source for d in docs} == {"kettle.docx"}  # deleting the file removes them all
    assert "24 months" in docs[1].text and "Descaling filter | 12 EUR" in docs[1].text  # tables as rows


def test_pptx_keeps_slide_numbers_and_titles(tmp_path):
    from rag_retrieve.chunking import locate

    docs = load_file(make_pptx(tmp_path / "review.pptx"))
    assert [d.sections[0][1] for d in docs] == ["Quarterly review", "Sales", "Outlook"]
    assert docs[1].text.startswith("Sales\n\nRevenue of the Nordic region grew 17 percent")
    assert [locate(d, 0, len(d.text)) for d in docs][1] == {"page": "2", "section": "Sales"}


def test_xlsx_reads_each_sheet_as_rows_of_readable_text(tmp_path):
    docs = load_file(make_xlsx(tmp_path / "book.xlsx"))
    assert [d.sections for d in docs] == [((0, "Prices"),), ((0, "Staff"),)]
    assert (
        "Item: Titanium bolt; Cost: 3" in docs[0].text and "Name: Ana Lindqvist; Role: Head of safety" in docs[1].text
    )


def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"0" * 30_000_000)
    return out.getvalue()


def encrypted_xlsx(tmp_path) -> bytes:
    import msoffcrypto.format.ooxml

    plain = make_xlsx(tmp_path / "plain.xlsx")
    out = io.BytesIO()
    with open(plain, "rb") as f:
        msoffcrypto.format.ooxml.OOXMLFile(f).encrypt("secret", out)
    return out.getvalue()


HOSTILE = {
    "bomb.docx": (lambda tmp: zip_bomb(), "decompression bomb"),
    "cut.pptx": (lambda tmp: make_pptx(tmp / "whole.pptx").read_bytes()[:2000], "truncated or damaged"),
    "locked.xlsx": (encrypted_xlsx, "password-protected"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_office_files_get_a_sentence(tmp_path, name):
    make, message = HOSTILE[name]
    (tmp_path / name).write_bytes(make(tmp_path))
    with pytest.raises(IngestError, match=message) as err:
        load_file(tmp_path / name, max_bytes=1 * 2**20)
    assert "Traceback" not in str(err.value) and str(tmp_path) not in str(err.value)


@pytest.fixture(scope="module")
def client(start_module_space, tmp_path_factory):
    corpus = tmp_path_factory.mktemp("office-corpus")
    (corpus / "tides.md").write_text("# Tides\n\nTides are caused by the gravitational pull of the moon and the sun.")
    server = start_module_space(
        "retrieve",
        RETRIEVE_INDEX_DIR=str(tmp_path_factory.mktemp("office-index")),
        RETRIEVE_CORPUS=str(corpus),
        RETRIEVE_WRITE_TOKEN=TOKEN,
        RETRIEVE_MAX_FILE_MB="1",
    )
    return Client(server.url, verbose=False)


def rows(table):
    return [dict(zip(table["headers"], r)) for r in table["data"]]


def test_office_uploads_are_found_with_their_slide_and_heading(client, tmp_path):
    files = [
        make_docx(tmp_path / "kettle.docx"),
        make_pptx(tmp_path / "review.pptx"),
        make_xlsx(tmp_path / "book.xlsx"),
    ]
    report = client.predict([handle_file(str(f)) for f in files], TOKEN, api_name="/add_documents")
    assert "Indexed" in report and "error" not in report.lower()
    slide = rows(client.predict("How much did Nordic revenue grow?", 1, "hybrid", "", api_name="/retrieve"))[0]
    assert slide["source"] == "review.pptx" and slide["page"] == "2" and "17 percent" in slide["text"]
    heading = rows(client.predict("How long is the kettle warranty?", 1, "hybrid", "", api_name="/retrieve"))[0]
    assert heading["source"] == "kettle.docx" and heading["section"] == "Warranty"
    sheet = rows(client.predict("Who is head of safety?", 1, "hybrid", "", api_name="/retrieve"))[0]
    assert sheet["source"] == "book.xlsx" and sheet["section"] == "Staff" and "Ana Lindqvist" in sheet["text"]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_office_uploads_change_nothing(client, tmp_path, name):
    before = client.predict(api_name="/stats")["chunks"]
    make, message = HOSTILE[name]
    (tmp_path / name).write_bytes(make(tmp_path))
    with pytest.raises(Exception, match=message):
        client.predict([handle_file(str(tmp_path / name))], TOKEN, api_name="/add_documents")
    assert client.predict(api_name="/stats")["chunks"] == before

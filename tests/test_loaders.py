from __future__ import annotations

import pytest
from pypdf import PdfReader

from bot.errors import DocumentError
from bot.ingest.loaders import load_file
from tests.helpers import encrypt_pdf, make_blank_pdf, make_docx, make_pdf


def test_markdown_front_matter_and_headings(docs):
    loaded = load_file(docs / "guidance" / "phones.md", docs)
    assert loaded.source == "guidance/phones.md"
    assert loaded.metadata["title"] == "Phones and recording devices"
    assert loaded.metadata["settings"] == ["prison", "yoi"]
    assert loaded.metadata["updated"] == "2026-01-10"
    headings = [h[3] for h in loaded.documents[0].metadata["headings"]]
    assert headings == ["Can I take my phone in?", "Cameras and recorders"]
    assert len(loaded.sha256) == 64


def test_latin1_text_is_decoded_with_a_warning(tmp_path):
    path = tmp_path / "old.txt"
    path.write_bytes("Caf\xe9 workshops need a r\xe9sum\xe9 of your practice.".encode("latin-1"))
    loaded = load_file(path, tmp_path)
    assert "Café" in loaded.documents[0].page_content
    assert any("Latin-1" in w for w in loaded.warnings)


@pytest.mark.parametrize("name,data,reason", [
    ("junk.md", bytes(range(256)) * 20, "binary"),
    ("empty.txt", b"   \n", "empty"),
    ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog", "not a readable PDF"),
    ("broken.docx", b"PK\x03\x04 this is not really a zip", "not a readable Word"),
])
def test_bad_files_raise_a_reason(tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DocumentError) as err:
        load_file(path, tmp_path)
    assert reason in err.value.message


def test_pdf_pages_and_bookmarked_sections(tmp_path):
    path = make_pdf(tmp_path / "guide.pdf", [
        [("h1", "Alarms"), ("p", "Carry your personal alarm at all times while on the wing.")],
        [("p", "Test your alarm at the start of each session."),
         ("h1", "Lockdowns"), ("p", "A lockdown can cancel your session at short notice.")],
    ])
    loaded = load_file(path, tmp_path)
    assert [d.metadata["page"] for d in loaded.documents] == [1, 2]
    assert loaded.metadata["title"] == "A handbook"
    page2 = loaded.documents[1]
    assert [h[3] for h in page2.metadata["headings"]] == ["Lockdowns"]


def test_a_pdf_heading_that_wraps_onto_a_second_line_is_still_a_heading(tmp_path):
    """A long question heading wraps in the PDF; its section must not be lost into the one
    before it (the shipped self-care handbook lost two sections this way)."""
    long = ("What support is there for freelance artists and small arts organisations when prison "
            "work suddenly stops for months?")
    path = make_pdf(tmp_path / "guide.pdf", [[
        ("h2", "Can making my own art help?"), ("p", "Making your own work restores energy."),
        ("h2", long), ("p", "The national networks bring artists together."),
        ("h2", "Short heading"), ("p", "More text.")]])
    loaded = load_file(path, tmp_path)
    page = loaded.documents[0]
    assert [h[3] for h in page.metadata["headings"]] == [
        "Can making my own art help?", long, "Short heading"]
    start, end, _, _ = page.metadata["headings"][1]
    assert " ".join(page.page_content[start:end].split()) == long
    assert "\n" in PdfReader(path).pages[0].extract_text().split("freelance", 1)[1][:80]


def test_aes_pdf_with_empty_password_opens(tmp_path):
    plain = make_pdf(tmp_path / "p.pdf", [[("p", "Open text about workshops in prisons.")]])
    path = encrypt_pdf(plain, tmp_path / "aes.pdf", user_password="")
    loaded = load_file(path, tmp_path)
    assert "workshops" in loaded.documents[0].page_content


def test_password_protected_pdf_is_reported(tmp_path):
    plain = make_pdf(tmp_path / "p.pdf", [[("p", "Secret text.")]])
    path = encrypt_pdf(plain, tmp_path / "locked.pdf", user_password="letmein")
    with pytest.raises(DocumentError) as err:
        load_file(path, tmp_path)
    assert "password" in err.value.message


def test_scanned_pdf_needs_ocr(tmp_path):
    path = make_blank_pdf(tmp_path / "scan.pdf", pages=2)
    with pytest.raises(DocumentError) as err:
        load_file(path, tmp_path)
    assert "OCR" in err.value.message


def test_docx_headings_and_properties(tmp_path):
    path = make_docx(tmp_path / "probation.docx", "Working in probation",
                     [("Who to contact", "Contact the probation delivery unit first."),
                      ("Safety", "Agree a safety plan with the office manager.")])
    loaded = load_file(path, tmp_path)
    assert loaded.metadata["title"] == "Working in probation"
    assert loaded.metadata["settings"] == ["probation"]
    titles = [h[3] for h in loaded.documents[0].metadata["headings"]]
    assert "Who to contact" in titles and "Safety" in titles


def test_html_drops_scripts_and_keeps_headings(tmp_path):
    path = tmp_path / "page.html"
    path.write_text("<html><head><title>Gate guide</title><script>alert(1)</script></head>"
                    "<body><h2>At the gate</h2><p>Bring <b>photo ID</b> with you.</p></body>"
                    "</html>", encoding="utf-8")
    loaded = load_file(path, tmp_path)
    text = loaded.documents[0].page_content
    assert "alert" not in text and "Bring photo ID with you." in text
    assert loaded.metadata["title"] == "Gate guide"

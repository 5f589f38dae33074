"""Builders for awkward real-world files, made at test time so the fixtures stay small."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

FIXTURE_DOCS = Path(__file__).parent / "fixtures" / "docs"


def copy_corpus(dest: Path) -> Path:
    shutil.copytree(FIXTURE_DOCS, dest)
    return dest


def make_pdf(path: Path, pages: list[list[tuple[str, str]]], title: str = "A handbook") -> Path:
    """pages: for each page, (kind, text) pairs where kind is 'h1', 'h2' or 'p'. Headings are
    bookmarked, as in a real handbook."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(title)
    for page in pages:
        pdf.add_page()
        for kind, text in page:
            if kind in ("h1", "h2"):
                pdf.set_font("Helvetica", "B", 14 if kind == "h1" else 12)
                pdf.start_section(text, level=0 if kind == "h1" else 1)
                pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
            else:
                pdf.set_font("Helvetica", "", 11)
                pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def make_blank_pdf(path: Path, pages: int = 1) -> Path:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def encrypt_pdf(src: Path, dest: Path, user_password: str, algorithm: str = "AES-256") -> Path:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(src))
    writer.encrypt(user_password=user_password, owner_password="owner-secret",
                   algorithm=algorithm)
    with dest.open("wb") as fh:
        writer.write(fh)
    return dest


def make_docx(path: Path, title: str, sections: list[tuple[str, str]]) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.core_properties.category = "guidance"
    document.core_properties.comments = "settings: [probation]\nupdated: 2026-02-01\n"
    document.add_heading(title, level=0)
    for heading, text in sections:
        document.add_heading(heading, level=1)
        document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    path.write_bytes(buffer.getvalue())
    return path

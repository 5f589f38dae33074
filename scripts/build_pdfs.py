"""Build the PDF-only guidance handbooks from their Markdown sources.

Some guidance reaches staff only as PDF, so the corpus keeps a few documents in that form to
exercise page citations. Their sources live in ``corpus_src/pdf/`` (outside ``guidance_docs/`` so
they are never indexed twice); this script renders each one to
``guidance_docs/guidance/<name>.pdf`` with real headings, page numbers, each heading as a
bookmark, and the front-matter fields stored as PDF metadata (Title, Subject, Keywords, and
/DocType, /Settings, /Topics, /Updated, /Audience), which the loader reads back.

Usage: ``python scripts/build_pdfs.py`` (needs the ``fpdf2`` dev dependency).
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path

import yaml
from fpdf import FPDF

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "corpus_src" / "pdf"
OUT = ROOT / "guidance_docs" / "guidance"

_REPLACEMENTS = {
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
    "\u2026": "...", "\u00a0": " ", "\u2022": "-", "\u2192": "->", "\u2212": "-",
}


def latin1(text: str) -> str:
    """The core PDF fonts are Latin-1 only; map typographic characters to plain ones."""
    for src, dst in _REPLACEMENTS.items():
        text = text.replace(src, dst)
    return text.encode("latin-1", "replace").decode("latin-1")


def split_front_matter(text: str) -> tuple[dict, str]:
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    if not match:
        raise SystemExit("every PDF source needs YAML front matter")
    return yaml.safe_load(match.group(1)), text[match.end():]


class Handbook(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.doc_title = title
        self.set_margins(22, 20, 22)
        self.set_auto_page_break(True, margin=20)

    def header(self) -> None:
        if self.page_no() > 1:
            self.set_font("Helvetica", "I", 8)
            self.cell(0, 6, latin1(self.doc_title), align="R")
            self.ln(10)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 6, f"Page {self.page_no()}", align="C")


def render(meta: dict, body: str, dest: Path) -> None:
    title = str(meta["title"])
    pdf = Handbook(title)
    pdf.set_title(latin1(title))
    pdf.set_author(latin1(str(meta.get("author", "Arts in Criminal Justice guidance"))))
    pdf.set_subject(latin1(str(meta.get("summary", title))))
    pdf.set_keywords(latin1(", ".join(meta.get("topics", []))))
    pdf.set_creation_date(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 20)
    pdf.multi_cell(0, 10, latin1(title))
    pdf.ln(4)
    width = pdf.epw
    for block in re.split(r"\n\s*\n", body.strip()):
        block = block.strip()
        if block == "\\pagebreak":
            pdf.add_page()
            continue
        heading = re.match(r"^(#{1,3})\s+(.*)$", block)
        if heading and "\n" not in block:
            level = len(heading.group(1))
            if pdf.get_y() > pdf.h - 60:
                pdf.add_page()
            pdf.ln(3)
            pdf.set_font("Helvetica", "B", {1: 16, 2: 13, 3: 11}[level])
            # Bookmarks let the loader give each page's chunks a section name.
            pdf.start_section(latin1(heading.group(2)), level=level - 1)
            pdf.multi_cell(width, 7, latin1(heading.group(2)))
            pdf.ln(1)
            continue
        pdf.set_font("Helvetica", "", 10.5)
        lines = block.splitlines()
        if all(re.match(r"^\s*([-*]|\d+\.)\s+", ln) or ln.startswith("  ") for ln in lines):
            items = re.split(r"\n(?=\s*(?:[-*]|\d+\.)\s+)", block)
            for item in items:
                marker = re.match(r"^\s*([-*]|\d+\.)\s+", item)
                bullet = marker.group(1) if marker and marker.group(1) not in "-*" else "-"
                text = " ".join(item[marker.end() if marker else 0:].split())
                pdf.set_x(pdf.l_margin + 4)
                pdf.multi_cell(width - 4, 5.5, latin1(f"{bullet} {text}"))
            pdf.ln(2)
            continue
        pdf.multi_cell(width, 5.5, latin1(" ".join(block.split())))
        pdf.ln(2.5)
    pdf.output(str(dest))
    _write_metadata(dest, meta)


def _write_metadata(dest: Path, meta: dict) -> None:
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(dest)
    writer = PdfWriter(clone_from=reader)
    extra = {
        "/DocType": str(meta.get("doc_type", "guidance")),
        "/Settings": ", ".join(meta.get("settings", [])),
        "/Topics": ", ".join(meta.get("topics", [])),
        "/Audience": ", ".join(meta.get("audience", [])) if isinstance(meta.get("audience"), list)
        else str(meta.get("audience", "")),
        "/Updated": str(meta.get("updated", "")),
    }
    writer.add_metadata({**{k: v for k, v in (reader.metadata or {}).items()}, **extra})
    with dest.open("wb") as fh:
        writer.write(fh)


def main() -> int:
    sources = sorted(SRC.glob("*.md"))
    if not sources:
        print(f"no sources in {SRC}", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    for src in sources:
        meta, body = split_front_matter(src.read_text(encoding="utf-8"))
        dest = OUT / f"{src.stem}.pdf"
        render(meta, body, dest)
        print(f"built {dest.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

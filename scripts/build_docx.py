"""Build the DOCX-only guidance documents from their Markdown sources.

Some guidance reaches staff only as Word documents, so the corpus keeps a few documents in that
form to exercise the DOCX loader. Their sources live in ``corpus_src/docx/`` (outside
``guidance_docs/`` so they are never indexed twice); this script renders each one to
``guidance_docs/guidance/<name>.docx`` with real Word heading styles (Heading 1/2/3 for ``#``,
``##`` and ``###``), 'List Bullet' / 'List Number' paragraphs for ``- `` and ``1. `` items, and
the front matter stored in the core document properties, which the loader reads back:

- title    -> ``title``
- category -> ``doc_type``
- keywords -> ``topics`` joined by ", "
- subject  -> ``summary``
- comments -> a YAML mapping (``yaml.safe_dump``) of every other front-matter field
  (``settings``, ``audience``, ``updated``, ...)

Dates inside the file (core properties and zip entry times) are fixed so that rebuilding an
unchanged source gives byte-identical output.

Usage: ``python scripts/build_docx.py`` (needs the ``python-docx`` dev dependency).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import sys
import zipfile
from pathlib import Path

import yaml
from docx import Document
from docx.enum.text import WD_BREAK

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "corpus_src" / "docx"
OUT = ROOT / "guidance_docs" / "guidance"

FIXED_DATE = dt.datetime(2026, 1, 1, 0, 0, 0)
AUTHOR = "Arts in Criminal Justice guidance"
# Front-matter keys that have their own core property; everything else goes into comments.
MAPPED_KEYS = ("title", "doc_type", "topics", "summary")

_HEADING = re.compile(r"^(#{1,3})\s+(.*\S)\s*$")
_BULLET = re.compile(r"^\s*[-*]\s+")
_NUMBER = re.compile(r"^\s*\d+[.)]\s+")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def split_front_matter(text: str) -> tuple[dict, str]:
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    if not match:
        raise SystemExit("every DOCX source needs YAML front matter")
    meta = yaml.safe_load(match.group(1))
    if not isinstance(meta, dict) or "title" not in meta:
        raise SystemExit("front matter must be a mapping with a title")
    return meta, text[match.end():]


def _add_text(paragraph, text: str) -> None:
    """Add text to a paragraph, turning ``**bold**`` spans into bold runs."""
    pos = 0
    for match in _BOLD.finditer(text):
        if match.start() > pos:
            paragraph.add_run(text[pos:match.start()])
        paragraph.add_run(match.group(1)).bold = True
        pos = match.end()
    if pos < len(text):
        paragraph.add_run(text[pos:])


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def set_properties(doc, meta: dict) -> None:
    props = doc.core_properties
    props.title = str(meta["title"])
    props.category = str(meta.get("doc_type", "guidance"))
    props.keywords = ", ".join(_as_list(meta.get("topics")))
    props.subject = str(meta.get("summary", meta["title"]))
    rest = {k: v for k, v in meta.items() if k not in MAPPED_KEYS}
    props.comments = yaml.safe_dump(rest, sort_keys=True, allow_unicode=True).strip()
    props.author = AUTHOR
    props.last_modified_by = AUTHOR
    props.created = FIXED_DATE
    props.modified = FIXED_DATE
    props.last_printed = FIXED_DATE
    props.revision = 1
    props.language = "en-GB"


def render(meta: dict, body: str):
    doc = Document()
    set_properties(doc, meta)
    doc.add_paragraph(str(meta["title"]), style="Title")
    for block in re.split(r"\n\s*\n", body.strip()):
        block = block.strip()
        if not block:
            continue
        if block == "\\pagebreak":
            doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
            continue
        heading = _HEADING.match(block)
        if heading and "\n" not in block:
            doc.add_heading(heading.group(2), level=len(heading.group(1)))
            continue
        lines = block.splitlines()
        if all(_BULLET.match(ln) or _NUMBER.match(ln) or ln.startswith("  ") for ln in lines):
            items = re.split(r"\n(?=\s*(?:[-*]|\d+[.)])\s+)", block)
            for item in items:
                marker = _BULLET.match(item) or _NUMBER.match(item)
                style = "List Number" if marker and _NUMBER.match(item) else "List Bullet"
                text = " ".join(item[marker.end() if marker else 0:].split())
                _add_text(doc.add_paragraph(style=style), text)
            continue
        _add_text(doc.add_paragraph(), " ".join(block.split()))
    return doc


def write_reproducible(doc, dest: Path) -> None:
    """Save the document, rewriting the zip with fixed entry times for reproducible output."""
    buffer = io.BytesIO()
    doc.save(buffer)
    buffer.seek(0)
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_DATE.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    dest.write_bytes(out.getvalue())


def main() -> int:
    sources = sorted(SRC.glob("*.md"))
    if not sources:
        print(f"no sources in {SRC}", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    for src in sources:
        meta, body = split_front_matter(src.read_text(encoding="utf-8"))
        dest = OUT / f"{src.stem}.docx"
        write_reproducible(render(meta, body), dest)
        print(f"built {dest.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

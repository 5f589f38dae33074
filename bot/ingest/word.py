"""Reading a Word (.docx) file: paragraphs with their heading styles, tables row by row, and the
document properties (with YAML in the comments field) as metadata; its unpacked XML is capped
before anything is parsed."""

from __future__ import annotations

import io
import re
from typing import Any

import yaml

from bot.errors import DocumentError
from bot.ingest.limits import MAX_DOCX_XML_BYTES, Heading


def _docx_size_check(data: bytes) -> None:
    """Refuse a Word file whose XML would expand past the cap, before any of it is parsed."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(info.file_size for info in archive.infolist()
                           if info.filename.endswith(".xml") or info.filename.endswith(".rels"))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DocumentError(
            "not a readable Word document: it may be damaged or password-protected") from exc
    if expanded > MAX_DOCX_XML_BYTES:
        raise DocumentError(f"too large when unpacked: {expanded // (1024 * 1024)} MB of XML (the "
                            f"limit is {MAX_DOCX_XML_BYTES // (1024 * 1024)} MB): split the "
                            "document")


def read_docx(data: bytes):
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    _docx_size_check(data)
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise DocumentError(
            "not a readable Word document: it may be damaged or password-protected"
        ) from exc
    except Exception as exc:  # zipfile.BadZipFile and lxml errors among others
        raise DocumentError(
            "not a readable Word document: it may be damaged or password-protected"
        ) from exc
    parts: list[str] = []
    headings: list[Heading] = []
    offset = 0
    title = None
    for para in document.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        style = (para.style.name if para.style is not None else "") or ""
        level_match = re.match(r"Heading (\d)", style)
        if style == "Title" and title is None:
            title = text
        if level_match or style == "Title":
            level = int(level_match.group(1)) if level_match else 1
            headings.append((offset, offset + len(text) + 1, level, text))
        parts.append(text + "\n")
        offset += len(text) + 1
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                line = " | ".join(dict.fromkeys(cells))
                parts.append(line + "\n")
                offset += len(line) + 1
    props = document.core_properties
    meta: dict[str, Any] = {}
    if props.comments:
        try:
            extra = yaml.safe_load(props.comments)
            if isinstance(extra, dict):
                meta.update(extra)
        except yaml.YAMLError:
            pass
    for attr, name in (("title", "title"), ("category", "doc_type"), ("keywords", "topics"),
                       ("subject", "summary")):
        value = getattr(props, attr, None)
        if value:
            meta[name] = value
    if title and "title" not in meta:
        meta["title"] = title
    text = "".join(parts)
    if not text.strip():
        raise DocumentError("no text: the Word document is empty")
    return [(None, text, headings)], meta, []

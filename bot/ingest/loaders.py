"""Reading files into LangChain ``Document`` objects: one per PDF page, one per other file.

Each reader also records where the headings are (``metadata["headings"]``: character spans with
a level and a title) so that chunking can follow the document's structure whatever the format.
Front matter (Markdown), PDF metadata and Word document properties become metadata. A file that
cannot be read raises :class:`~bot.errors.DocumentError` with a reason fit for a staff member;
problems that do not stop a file (an empty page, a Latin-1 file) are returned as warnings.

This module picks the reader by file type and normalises what every format gives into the fields
chunks carry; the readers are :mod:`~bot.ingest.text` (Markdown, text), :mod:`~bot.ingest.pdf`,
:mod:`~bot.ingest.word` and :mod:`~bot.ingest.webpage`, within the caps of
:mod:`~bot.ingest.limits`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.documents import Document

from bot.documents import DOC_TYPES, sha256_bytes
from bot.errors import DocumentError
from bot.ingest.limits import MAX_FILE_BYTES, MAX_TEXT_CHARS
from bot.ingest.pdf import read_pdf
from bot.ingest.text import read_markdown, read_text
from bot.ingest.webpage import read_html
from bot.ingest.word import read_docx

SUPPORTED = {".md", ".markdown", ".txt", ".pdf", ".docx", ".html", ".htm"}


@dataclass
class LoadedFile:
    source: str
    sha256: str
    documents: list[Document]
    metadata: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def path_inside(root: Path, relative: str) -> Path:
    """The path of ``relative`` under ``root``; ValueError for anything that would leave it."""
    root = Path(root).resolve()
    target = (root / relative).resolve()
    if root not in target.parents:
        raise ValueError(f"'{relative}' is outside the documents folder.")
    return target


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED


def load_file(path: Path, root: Path) -> LoadedFile:
    """Read one file; ``source`` is its path relative to ``root`` with forward slashes."""
    source = path.relative_to(root).as_posix()
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise DocumentError(f"too large: {len(data) // (1024 * 1024)} MB (the limit is 50 MB)")
    if not data.strip():
        raise DocumentError("empty: the file has no content")
    suffix = path.suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        raise DocumentError(f"unsupported file type '{suffix}'")
    pages, meta, warnings = reader(data)
    chars = sum(len(text) for _, text, _ in pages)
    if chars > MAX_TEXT_CHARS:
        raise DocumentError(f"too much text: about {chars // 1000:,} thousand characters (the "
                            f"limit is {MAX_TEXT_CHARS // 1000:,} thousand): split the document")
    meta = _finish_metadata(meta, source, path, pages)
    documents = []
    for page_no, text, headings in pages:
        doc_meta = {**meta, "page": page_no, "headings": headings}
        documents.append(Document(page_content=text, metadata=doc_meta))
    return LoadedFile(source, sha256_bytes(data), documents, meta, warnings)


_READERS = {
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".txt": read_text,
    ".pdf": read_pdf,
    ".docx": read_docx,
    ".html": read_html,
    ".htm": read_html,
}


# -- metadata ------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple, set)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value)]


def _finish_metadata(meta: dict[str, Any], source: str, path: Path, pages) -> dict[str, Any]:
    """Normalise what every format gives into the fields chunks carry."""
    out = dict(meta)
    top = source.split("/", 1)[0]
    doc_type = str(out.get("doc_type") or "").strip().lower()
    if doc_type not in DOC_TYPES:
        doc_type = top if top in DOC_TYPES else "guidance"
    out["doc_type"] = doc_type
    title = str(out.get("title") or "").strip()
    if not title:
        first = next((h[3] for _, _, hs in pages for h in hs if h[2] == 1), None)
        title = first or path.stem.replace("-", " ").replace("_", " ").strip().capitalize()
    out["title"] = title
    for key in ("settings", "topics", "audience", "art_forms", "outcomes", "authors"):
        if key in out:
            out[key] = _as_list(out[key])
    for key in ("updated", "year"):
        value = out.get(key)
        if isinstance(value, (dt.date, dt.datetime)):
            out[key] = value.isoformat()[:10]
        elif value is not None:
            out[key] = str(value)
    return out

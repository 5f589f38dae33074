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

import yaml
from langchain_core.documents import Document

from bot.documents import DOC_TYPES, sha256_bytes
from bot.errors import DocumentError
from bot.ingest.limits import (
    MAX_FILE_BYTES,
    MAX_PHRASING_CHARS,
    MAX_PHRASINGS,
    MAX_TEXT_CHARS,
)
from bot.ingest.pdf import read_pdf
from bot.ingest.text import read_markdown, read_text
from bot.ingest.webpage import read_html
from bot.ingest.word import read_docx

SUPPORTED = {".md", ".markdown", ".txt", ".pdf", ".docx", ".html", ".htm"}
# Other ways of asking a document's section questions, kept by staff beside a document of any
# format ("keys.pdf" -> "keys.pdf.also-asked.yaml"): each heading mapped to a list of phrasings.
# A Markdown guide can carry them as comments under its headings instead (bot.ingest.text); a PDF
# or Word file cannot, so this file is how its sections get them. Never shown to readers.
ALSO_ASKED_SUFFIX = ".also-asked.yaml"
MAX_ALSO_ASKED_BYTES = 1024 * 1024


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


def also_asked_file(path: Path) -> Path:
    """Where staff keep other phrasings of a document's section questions."""
    return path.with_name(path.name + ALSO_ASKED_SUFFIX)


def is_also_asked_file(path: Path) -> bool:
    return path.name.endswith(ALSO_ASKED_SUFFIX)


def content_hash(path: Path, data: bytes | None = None) -> str:
    """The hash that says whether a document changed: its bytes, and those of its phrasings
    file when it has one (editing only the phrasings reindexes the document)."""
    data = path.read_bytes() if data is None else data
    side = also_asked_file(path)
    if side.is_file():
        data = data + b"\0" + ALSO_ASKED_SUFFIX.encode() + b"\0" + side.read_bytes()
    return sha256_bytes(data)


def read_also_asked(path: Path) -> tuple[dict[str, list[str]], list[str]]:
    """The phrasings file beside ``path`` as {heading: [phrasings]}, and warnings for a staff
    member: a file that cannot be used never stops the document itself being indexed."""
    side = also_asked_file(path)
    if not side.is_file():
        return {}, []
    unused = f"{side.name} was not used"
    try:
        if side.stat().st_size > MAX_ALSO_ASKED_BYTES:
            return {}, [f"{unused}: it is larger than 1 MB"]
        data = yaml.safe_load(side.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return {}, [f"{unused}: it is not UTF-8 text"]
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        return {}, [f"{unused}: it is not valid YAML{at}"]
    except OSError as exc:
        return {}, [f"{unused}: it could not be opened ({exc.strerror})"]
    if data is None:
        return {}, []
    if not isinstance(data, dict):
        return {}, [f"{unused}: it should map each heading to a list of other phrasings"]
    asked: dict[str, list[str]] = {}
    warnings = []
    for heading, phrasings in data.items():
        if isinstance(phrasings, str):
            phrasings = [phrasings]
        if not isinstance(phrasings, list):
            warnings.append(f"{side.name}: the phrasings for '{heading}' are not a list, so "
                            "they were not used")
            continue
        kept = [" ".join(str(p).split())[:MAX_PHRASING_CHARS] for p in phrasings
                if isinstance(p, (str, int, float)) and str(p).strip()]
        if kept:
            asked[" ".join(str(heading).split())] = kept[:MAX_PHRASINGS]
    return asked, warnings


def _with_also_asked(path: Path, meta: dict[str, Any], pages, warnings: list[str]
                     ) -> dict[str, Any]:
    """The document's metadata with the phrasings of its phrasings file added to any it
    carries itself, each under a heading the document has."""
    asked, problems = read_also_asked(path)
    warnings.extend(problems)
    if not asked:
        return meta
    headings = {" ".join(str(h[3]).split()) for _, _, hs in pages for h in hs}
    merged = {k: list(v) for k, v in (meta.get("also_asked") or {}).items()}
    for heading, phrasings in asked.items():
        if heading not in headings:
            warnings.append(f"{also_asked_file(path).name}: the document has no heading "
                            f"'{heading}', so its phrasings were not used")
            continue
        merged.setdefault(heading, []).extend(phrasings)
    return {**meta, "also_asked": merged} if merged else meta


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
    warnings = list(warnings)
    meta = _with_also_asked(path, _finish_metadata(meta, source, path, pages), pages, warnings)
    documents = []
    for page_no, text, headings in pages:
        doc_meta = {**meta, "page": page_no, "headings": headings}
        documents.append(Document(page_content=text, metadata=doc_meta))
    return LoadedFile(source, content_hash(path, data), documents, meta, warnings)


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

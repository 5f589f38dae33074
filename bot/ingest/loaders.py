"""Reading files into LangChain ``Document`` objects: one per PDF page, one per other file.

Each loader also records where the headings are (``metadata["headings"]``: character spans with
a level and a title) so that chunking can follow the document's structure whatever the format.
Front matter (Markdown), PDF metadata and Word document properties become metadata. A file that
cannot be read raises :class:`~bot.errors.DocumentError` with a reason fit for a staff member;
problems that do not stop a file (an empty page, a Latin-1 file) are returned as warnings.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from langchain_core.documents import Document

from bot.documents import DOC_TYPES, sha256_bytes
from bot.errors import DocumentError

log = logging.getLogger(__name__)

SUPPORTED = {".md", ".markdown", ".txt", ".pdf", ".docx", ".html", ".htm"}
# Caps on what one file may cost, so that a hostile or mistaken upload is a file problem in the
# report rather than minutes of work and gigabytes of memory (docs/security.md).
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_PDF_PAGES = 500
MAX_TEXT_CHARS = 2_000_000           # characters of text in one file, any format
MAX_DOCX_XML_BYTES = 20 * 1024 * 1024  # a Word file's XML, uncompressed, checked before parsing
Heading = tuple[int, int, int, str]  # start, end, level, title


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


# -- text-like formats ---------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n", re.S)
_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
_FENCE = re.compile(r"^(```|~~~)", re.M)


def decode_text(data: bytes) -> tuple[str, list[str]]:
    """UTF-8 if it is; otherwise Windows-1252/Latin-1 (common for older files), with a warning.

    Binary data with a text extension is refused rather than indexed as gibberish, and text over
    the character cap before it is parsed.
    """
    if len(data) > 4 * MAX_TEXT_CHARS:
        raise DocumentError(f"too much text: {len(data) // (1024 * 1024)} MB (the limit is about "
                            f"{MAX_TEXT_CHARS // 1000:,} thousand characters): split the document")
    if b"\x00" in data[:8192]:
        raise DocumentError("not a text file: it contains binary data")
    warnings: list[str] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
        warnings.append("not UTF-8: read as Latin-1 (Windows-1252); check accented characters")
    sample = text[:20000]
    control = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f")
    if sample and control / len(sample) > 0.02:
        raise DocumentError("not a text file: it looks like binary data")
    return text.replace("\r\n", "\n").replace("\r", "\n"), warnings


def split_front_matter(text: str) -> tuple[dict[str, Any], str, list[str]]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text, []
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError:
        return {}, text[match.end():], ["front matter is not valid YAML and was ignored"]
    if not isinstance(meta, dict):
        return {}, text[match.end():], ["front matter is not a list of fields and was ignored"]
    return meta, text[match.end():], []


def markdown_headings(body: str) -> list[Heading]:
    fenced: list[tuple[int, int]] = []
    marks = [m.start() for m in _FENCE.finditer(body)]
    for open_, close in zip(marks[::2], marks[1::2]):
        fenced.append((open_, close))
    headings = []
    for m in _MD_HEADING.finditer(body):
        if any(a <= m.start() <= b for a, b in fenced):
            continue
        end = m.end() + 1 if m.end() < len(body) else m.end()
        headings.append((m.start(), end, len(m.group(1)), _clean_heading(m.group(2))))
    return headings


def _clean_heading(title: str) -> str:
    return re.sub(r"[*_`]+", "", title).strip()


def _read_markdown(data: bytes):
    text, warnings = decode_text(data)
    meta, body, fm_warnings = split_front_matter(text)
    return [(None, body, markdown_headings(body))], meta, warnings + fm_warnings


def _read_text(data: bytes):
    text, warnings = decode_text(data)
    return [(None, text, [])], {}, warnings


# -- PDF -----------------------------------------------------------------------------------------


def _read_pdf(data: bytes):
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError("encrypted: a password is needed to open it")
        page_count = len(reader.pages)
    except DocumentError:
        raise
    except FileNotDecryptedError as exc:
        raise DocumentError("encrypted: a password is needed to open it") from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise DocumentError("not a readable PDF: the file is damaged or incomplete") from exc
    except Exception as exc:  # pypdf raises many kinds of error on broken files
        if "cryptography" in str(exc).lower():
            raise DocumentError(
                "encrypted with AES, which needs the 'cryptography' package installed"
            ) from exc
        raise DocumentError("not a readable PDF: the file is damaged or incomplete") from exc
    if page_count == 0:
        raise DocumentError("not a readable PDF: it has no pages")
    if page_count > MAX_PDF_PAGES:
        raise DocumentError(f"too many pages: {page_count} (the limit is {MAX_PDF_PAGES}): split "
                            "the PDF")
    outline = _pdf_outline(reader)
    raw_pages: list[list[str]] = []
    warnings: list[str] = []
    for index in range(page_count):
        try:
            text = reader.pages[index].extract_text() or ""
        except Exception:  # one broken page must not lose the others
            log.warning("pdf_page_failed page=%s", index + 1, exc_info=True)
            warnings.append(f"page {index + 1} could not be read")
            text = ""
        raw_pages.append([_reading_order(ln.strip()) for ln in text.splitlines() if ln.strip()])
    raw_pages = _strip_running_lines(raw_pages)
    pages = []
    for index, lines in enumerate(raw_pages):
        if not lines:
            warnings.append(f"page {index + 1} has no text (a scanned image? it needs OCR)")
            continue
        text, headings = _pdf_page_text(lines, outline.get(index, []))
        pages.append((index + 1, text, headings))
    if not pages:
        raise DocumentError("no text: every page is empty or a scanned image (it needs OCR)")
    return pages, _pdf_metadata(reader), warnings


_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")


def _reading_order(line: str) -> str:
    """PDF text comes in the order glyphs sit on the page; right-to-left scripts (Hebrew,
    Arabic) need reordering into reading order, or their words could never be matched."""
    if not _RTL.search(line):
        return line
    try:
        from bidi.algorithm import get_display
    except ImportError:  # python-bidi is a dependency; without it, keep the text as it is
        return line
    return get_display(line)


def _pdf_outline(reader) -> dict[int, list[tuple[int, str]]]:
    out: dict[int, list[tuple[int, str]]] = {}

    def walk(items, level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
            except Exception:
                continue
            if page is not None and page >= 0 and item.title:
                out.setdefault(page, []).append((level, str(item.title).strip()))

    try:
        walk(reader.outline, 1)
    except Exception:  # a broken outline is not a reason to lose the text
        log.debug("pdf_outline_unreadable", exc_info=True)
    return out


def _strip_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop running headers and footers: first/last lines repeated on most pages."""
    if len(pages) < 3:
        return pages

    def shape(line: str) -> str:
        return re.sub(r"\d+", "#", line)

    counts: Counter[str] = Counter()
    for lines in pages:
        edges = {shape(ln) for ln in lines[:1] + lines[-1:]}
        counts.update(edges)
    running = {s for s, c in counts.items() if c >= max(3, len(pages) * 0.6)}
    cleaned = []
    for lines in pages:
        lines = list(lines)
        if lines and shape(lines[0]) in running:
            lines = lines[1:]
        if lines and shape(lines[-1]) in running:
            lines = lines[:-1]
        cleaned.append(lines)
    return cleaned


_BULLET = re.compile(r"^([-*\u2022\u25aa]|\d+[.)])\s+")


def _pdf_page_text(lines: list[str], outline: list[tuple[int, str]]) -> tuple[str, list[Heading]]:
    """Rejoin wrapped lines into paragraphs; lines that match the outline become headings."""
    titles = {re.sub(r"\s+", " ", t).lower(): (lvl, t) for lvl, t in outline}
    parts: list[str] = []
    headings: list[Heading] = []
    offset = 0
    buffer = ""

    def flush() -> None:
        nonlocal buffer, offset
        if buffer:
            parts.append(buffer + "\n")
            offset += len(buffer) + 1
            buffer = ""

    for line in lines:
        key = re.sub(r"\s+", " ", line).lower()
        if key in titles:
            flush()
            level, title = titles.pop(key)
            headings.append((offset, offset + len(line) + 1, level, title))
            parts.append(line + "\n")
            offset += len(line) + 1
        elif _BULLET.match(line) or not buffer:
            flush()
            buffer = line
        else:
            buffer = f"{buffer} {line}"
    flush()
    return "".join(parts), headings


def _pdf_metadata(reader) -> dict[str, Any]:
    try:
        info = reader.metadata or {}
    except Exception:
        return {}
    meta: dict[str, Any] = {}
    for key, name in (("/Title", "title"), ("/DocType", "doc_type"), ("/Updated", "updated"),
                      ("/Settings", "settings"), ("/Topics", "topics"), ("/Audience", "audience"),
                      ("/Subject", "summary")):
        value = info.get(key)
        if value:
            meta[name] = str(value)
    return meta


# -- Word ----------------------------------------------------------------------------------------


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


def _read_docx(data: bytes):
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


# -- HTML ----------------------------------------------------------------------------------------

_BLOCKS = ("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote", "td", "th", "dd",
           "dt", "figcaption")


def _read_html(data: bytes):
    from bs4 import BeautifulSoup

    text, warnings = decode_text(data)
    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "nav", "footer", "form"]):
        tag.decompose()
    meta: dict[str, Any] = {}
    if soup.title and soup.title.get_text(strip=True):
        meta["title"] = soup.title.get_text(strip=True)
    parts: list[str] = []
    headings: list[Heading] = []
    offset = 0
    root = soup.body or soup
    for el in root.find_all(_BLOCKS):
        if el.find_parent(_BLOCKS):
            continue
        block = " ".join(el.get_text(" ", strip=True).split())
        if not block:
            continue
        if el.name in ("h1", "h2", "h3", "h4", "h5", "h6"):
            headings.append((offset, offset + len(block) + 1, int(el.name[1]), block))
        parts.append(block + "\n")
        offset += len(block) + 1
    body = "".join(parts)
    if not body.strip():
        body = " ".join(root.get_text(" ", strip=True).split())
    if not body.strip():
        raise DocumentError("no text: the web page has no readable content")
    return [(None, body, headings)], meta, warnings


_READERS = {
    ".md": _read_markdown,
    ".markdown": _read_markdown,
    ".txt": _read_text,
    ".pdf": _read_pdf,
    ".docx": _read_docx,
    ".html": _read_html,
    ".htm": _read_html,
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

"""Reading a PDF: one page of text per document, wrapped lines rejoined into paragraphs, running
headers and footers dropped, right-to-left scripts put in reading order, outline entries as
headings, and the document properties as metadata. Encrypted, damaged and scanned files become
a :class:`~bot.errors.DocumentError` with a reason; a broken page only a warning."""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from typing import Any

from bot.errors import DocumentError
from bot.ingest.limits import MAX_PDF_PAGES, Heading

log = logging.getLogger(__name__)


def read_pdf(data: bytes):
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
    titles = {_title_key(t): (lvl, t) for lvl, t in outline}
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

    i = 0
    while i < len(lines):
        line, span = lines[i], _heading_span(lines, i, titles)
        if span:  # a heading, perhaps wrapped over two or three lines
            line = " ".join(lines[i:i + span])
            flush()
            level, title = titles.pop(_title_key(line))
            headings.append((offset, offset + len(line) + 1, level, title))
            parts.append(line + "\n")
            offset += len(line) + 1
            i += span
            continue
        if _BULLET.match(line) or not buffer:
            flush()
            buffer = line
        else:
            buffer = f"{buffer} {line}"
        i += 1
    flush()
    return "".join(parts), headings


def _title_key(text: str) -> str:
    """A line or an outline title as they are compared: spaces collapsed, lower case."""
    return re.sub(r"\s+", " ", text).strip().lower()


def _heading_span(lines: list[str], at: int, titles: dict[str, tuple[int, str]]) -> int:
    """How many lines from ``at`` make up an outline title (a long heading wraps onto a second
    or third line), or 0 when none does."""
    key = ""
    for span in range(1, 4):
        if at + span > len(lines):
            break
        key = _title_key(f"{key} {lines[at + span - 1]}")
        if key in titles:
            return span
        if not any(title.startswith(key + " ") for title in titles):
            break
    return 0


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

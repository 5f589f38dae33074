"""Reading the text-like formats: decoding bytes (UTF-8, else Windows-1252, never binary data),
Markdown with YAML front matter and its headings, and plain text."""

from __future__ import annotations

import re
from typing import Any

import yaml

from bot.errors import DocumentError
from bot.ingest.limits import MAX_PHRASING_CHARS, MAX_PHRASINGS, MAX_TEXT_CHARS, Heading

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


# Other ways of asking a section's question, added by staff under its heading (never shown to
# readers): <!-- also asked: How long is the wait for clearance? | Can I speed up my vetting? -->
_ALSO_ASKED = re.compile(r"[ \t]*<!--\s*also asked\s*:(.*?)-->[ \t]*\n?", re.I | re.S)


def read_markdown(data: bytes):
    text, warnings = decode_text(data)
    meta, body, fm_warnings = split_front_matter(text)
    body, asked = also_asked(body)
    if asked:
        meta = {**meta, "also_asked": asked}
    return [(None, body, markdown_headings(body))], meta, warnings + fm_warnings


def also_asked(body: str) -> tuple[str, dict[str, list[str]]]:
    """The body without its "also asked" comments, and their phrasings by the heading each sits
    under (the search matches a question against them as it does against the heading itself)."""
    asked: dict[str, list[str]] = {}
    parts: list[str] = []
    cursor = 0
    headings = markdown_headings(body)
    for m in _ALSO_ASKED.finditer(body):
        parts.append(body[cursor:m.start()])
        cursor = m.end()
        title = next((h[3] for h in reversed(headings) if h[0] < m.start()), "")
        phrasings = [p.strip() for p in m.group(1).split("|") if p.strip()]
        asked.setdefault(title, []).extend(p[:MAX_PHRASING_CHARS]
                                           for p in phrasings[:MAX_PHRASINGS])
    parts.append(body[cursor:])
    return "".join(parts), asked


def read_text(data: bytes):
    text, warnings = decode_text(data)
    return [(None, text, [])], {}, warnings

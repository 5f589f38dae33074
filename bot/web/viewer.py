"""Showing a cited passage in its place: the section of the document around the quote, with the
quote highlighted, so a reader can check a claim without leaving the app.

Markdown documents are shown formatted: the section's Markdown is rendered by markdown-it with
raw HTML switched off, then cleaned by the nh3 sanitiser (an allow-list of formatting tags; links
only to http, https and mailto addresses), so markup inside a document is shown as text or
dropped and never runs. Other formats (PDF pages, Word, text) are shown as escaped plain text, as
they were. The highlight is added after sanitising, around text the sanitiser already escaped.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote

from bot.errors import DocumentError
from bot.ingest.loaders import LoadedFile, load_file, path_inside

CONTEXT_BEFORE = 1200
CONTEXT_AFTER = 900
MAX_SECTION_CHARS = 12000       # "the whole section" beyond this is cut, with a link to the rest
START, END = "\ue000", "\ue001"  # private-use characters marking the quote through rendering

ALLOWED_TAGS = {"p", "br", "hr", "strong", "em", "b", "i", "code", "pre", "blockquote", "ul", "ol",
                "li", "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr",
                "th", "td", "del", "s", "sup", "sub"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
LINK_SCHEMES = {"http", "https", "mailto"}


def _squash(text: str) -> str:
    return " ".join(text.split())


def nice_date(value: Any) -> str:
    """"2026-01-10" as "10 January 2026"; anything else as it is."""
    try:
        day = dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return f"{day.day} {day.strftime('%B %Y')}"


def document_url(source: str, page: int | None) -> str:
    url = f"/api/documents/{url_quote(source)}"
    return f"{url}?page={page}" if page else url


@functools.lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt

    # commonmark with raw HTML off: "<script>" in a document is text, not a tag
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
        ["table", "strikethrough"])


def _absolute_links_only(tag: str, attribute: str, value: str) -> str | None:
    """A relative link in a document points into the app, not to the document's neighbour."""
    if tag == "a" and attribute == "href" and not re.match(r"(?i)(https?:|mailto:)", value):
        return None
    return value


def sanitise(fragment: str) -> str:
    """``fragment`` with only formatting left: no scripts, event handlers, styles, images,
    forms or frames, and no link that is not http, https or mailto."""
    import nh3

    return nh3.clean(fragment, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes=LINK_SCHEMES, attribute_filter=_absolute_links_only,
                     link_rel="noopener noreferrer nofollow", strip_comments=True,
                     clean_content_tags={"script", "style"},
                     set_tag_attribute_values={"a": {"target": "_blank"}})


def markdown_html(text: str) -> str:
    """Markdown rendered and sanitised; a document's headings become levels 4 to 6, under the
    viewer's own heading (level 3)."""
    rendered = sanitise(_markdown().render(text))
    return re.sub(r"<(/?)h([1-6])>",
                  lambda m: f"<{m.group(1)}h{max(4, min(6, int(m.group(2)) + 2))}>", rendered)


def _highlight(fragment: str) -> str:
    """Turn the quote's private-use markers into <mark>s: one around each run of text between
    them, so a quote that spans a paragraph and a list still nests correctly."""
    if START not in fragment or END not in fragment.split(START, 1)[1]:
        return fragment.replace(START, "").replace(END, "")
    before, rest = fragment.split(START, 1)
    inside, after = rest.split(END, 1)
    out, first = [], True
    for part in re.split(r"(<[^>]*>)", inside):
        if part.startswith("<") or not part.strip():
            out.append(part)
            continue
        marked = " id='cited'" if first else ""
        out.append(f"<mark{marked} class='cited'>{part}</mark>")
        first = False
    return before + "".join(out) + after.replace(START, "").replace(END, "")


def find_quote(text: str, quote: str) -> tuple[int, int] | None:
    """Where ``quote`` is in ``text``, whatever the line breaks and spacing between its words."""
    words = quote.split()
    if not words:
        return None
    found = re.search(r"\s+".join(re.escape(w) for w in words), text)
    return (found.start(), found.end()) if found else None


@functools.lru_cache(maxsize=32)
def _load(path: Path, mtime_ns: int, size: int, root: Path) -> LoadedFile:
    return load_file(path, root)


def load_cached(docs_dir: Path, source: str) -> LoadedFile:
    """A document of the library, read once per version of the file."""
    path = path_inside(docs_dir, source)
    stat = path.stat()
    return _load(path, stat.st_mtime_ns, stat.st_size, Path(docs_dir).resolve())


def passage_html(docs_dir: Path, citation: dict[str, Any], whole: bool = False) -> str:
    """The viewer's HTML for one citation: a heading, where the passage is, a link to the
    original, and the passage in its context (``whole``: its whole section)."""
    source = str(citation.get("source", ""))
    page = citation.get("page")
    title = html.escape(str(citation.get("title") or source))
    where = ", ".join(x for x in (f"page {page}" if page else "",
                                  str(citation.get("section") or "")) if x)
    updated = citation.get("updated")
    header = (f"<h3 class='viewer-title'>[{int(citation.get('n', 0) or 0)}] {title}</h3>"
              f"<p class='viewer-where'>{html.escape(where)}"
              f"{' · updated ' + html.escape(nice_date(updated)) if updated else ''}"
              f" · <a href='{html.escape(document_url(source, page))}' target='_blank' "
              f"rel='noopener'>Open the original</a></p>")
    try:
        loaded = load_cached(docs_dir, source)
    except (ValueError, OSError, DocumentError):
        return header + "<p>The original document could not be opened.</p>"
    quote = str(citation.get("quote", ""))
    if source.lower().endswith((".md", ".markdown")) and loaded.documents:
        body = _markdown_passage(loaded.documents[0], quote, citation.get("section"), whole)
        return header + f"<div class='viewer-text formatted'>{body}</div>"
    body = _plain_passage(loaded, page, quote, whole)
    return header + f"<div class='viewer-text'>{body}</div>"


def _plain_passage(loaded: LoadedFile, page: int | None, quote: str, whole: bool) -> str:
    """A PDF page (or a Word or text file) as escaped text, the quote marked."""
    pages = [d for d in loaded.documents if d.metadata.get("page") == page] or loaded.documents
    text = _squash(" ".join(d.page_content for d in pages))
    quote = _squash(quote)
    at = text.find(quote) if quote else -1
    if at < 0:
        return _headings_as_breaks(html.escape(text[:MAX_SECTION_CHARS if whole else
                                                     CONTEXT_BEFORE + CONTEXT_AFTER]))
    start = 0 if whole else max(0, at - CONTEXT_BEFORE)
    end = min(len(text), at + len(quote) + (MAX_SECTION_CHARS if whole else CONTEXT_AFTER))
    before = ("… " if start else "") + text[start:at]
    after = text[at + len(quote):end] + (" …" if end < len(text) else "")
    return _headings_as_breaks(
        f"{html.escape(before)}<mark id='cited' class='cited'>{html.escape(quote)}</mark>"
        f"{html.escape(after)}")


def _headings_as_breaks(body: str) -> str:
    """Markdown-style headings inside plain text: a line break instead of the hashes."""
    return re.sub(r"(?:^|(?<=\s))#{1,6} ", "<br>", body).removeprefix("<br>")


def _markdown_passage(doc, quote: str, section: str | None, whole: bool) -> str:
    """The Markdown section holding the quote (``whole``: with its sub-sections), cut to the
    paragraphs around the quote when it is long, rendered and sanitised, the quote marked."""
    text = doc.page_content
    headings = sorted(doc.metadata.get("headings") or [])
    span = find_quote(text, quote)
    at = None
    if span is not None:
        at = max((i for i, h in enumerate(headings) if h[0] <= span[0]), default=None)
    elif section:
        at = next((i for i, h in enumerate(headings) if h[3] == section), None)
    start = headings[at][0] if at is not None else 0
    level = headings[at][2] if at is not None else 0
    end = next((h[0] for h in headings[(at if at is not None else -1) + 1:]
                if not whole or h[2] <= level), len(text))
    if span is not None and not (start <= span[0] < end):
        span = None
    limit = MAX_SECTION_CHARS if whole else CONTEXT_BEFORE + CONTEXT_AFTER
    cut_start, cut_end = start, end
    if end - start > limit:
        anchor = span or (start, start)
        cut_start = max(start, _paragraph_start(text, anchor[0] - CONTEXT_BEFORE, start))
        cut_end = min(end, _paragraph_end(text, anchor[1] + (limit - CONTEXT_BEFORE)))
    if span is not None:
        a, b = _inner(text, *span)
        excerpt = text[cut_start:a] + START + text[a:b] + END + text[b:cut_end]
    else:
        excerpt = text[cut_start:cut_end]
    if at is not None and cut_start > start:  # keep the section's heading above a cut
        excerpt = text[start:headings[at][1]] + "\n…\n\n" + excerpt
    rendered = _highlight(markdown_html(excerpt))
    return rendered + ("<p class='viewer-more'>…</p>" if cut_end < end else "")


def _paragraph_start(text: str, at: int, floor: int) -> int:
    at = max(floor, at)
    found = text.rfind("\n\n", floor, at)
    return found + 2 if found >= 0 else floor


def _paragraph_end(text: str, at: int) -> int:
    found = text.find("\n\n", min(len(text), max(0, at)))
    return found if found >= 0 else len(text)


_BLOCK_MARK = re.compile(r"(?:[#>]+|[-*+]|\d+[.)])[ \t]+")


def _inner(text: str, a: int, b: int) -> tuple[int, int]:
    """The quote's span without a list marker or heading hashes at its start (a marker put
    before them would stop Markdown seeing the list or heading) or spaces at its end."""
    if a == 0 or text[a - 1] == "\n":
        found = _BLOCK_MARK.match(text, a)
        if found and found.end() < b:
            a = found.end()
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def summary_markdown(docs_dir: Path, source: str) -> str:
    """An evidence summary's body as safe Markdown (HTML escaped), without its front matter."""
    from bot.ingest.text import decode_text, split_front_matter

    try:
        path = path_inside(docs_dir, source)
        text, _ = decode_text(path.read_bytes())
    except (ValueError, OSError, DocumentError):
        return "The summary could not be opened."
    meta, body, _ = split_front_matter(text)
    title = html.escape(str(meta.get("title") or source))
    return f"### {title}\n\n{html.escape(body.strip(), quote=False)}"

"""Showing a cited passage in its place: the document's text around the quote, with the quote
highlighted, so a reader can check a claim without leaving the app.

Everything taken from the document is HTML-escaped before the one ``<mark>`` is added, so markup
inside a document is shown as text and never runs.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote

from bot.errors import DocumentError
from bot.loaders import load_file, path_inside

CONTEXT_BEFORE = 1200
CONTEXT_AFTER = 900


def _squash(text: str) -> str:
    return " ".join(text.split())


def document_url(source: str, page: int | None) -> str:
    url = f"/api/documents/{url_quote(source)}"
    return f"{url}?page={page}" if page else url


def passage_html(docs_dir: Path, citation: dict[str, Any]) -> str:
    source = str(citation.get("source", ""))
    page = citation.get("page")
    title = html.escape(str(citation.get("title") or source))
    where = ", ".join(x for x in (f"page {page}" if page else "",
                                  str(citation.get("section") or "")) if x)
    header = (f"<h3 class='viewer-title'>[{int(citation.get('n', 0))}] {title}</h3>"
              f"<p class='viewer-where'>{html.escape(where)}"
              f"{' · updated ' + html.escape(str(citation['updated'])) if citation.get('updated') else ''}"
              f" · <a href='{html.escape(document_url(source, page))}' target='_blank' "
              f"rel='noopener'>Open the original</a></p>")
    try:
        path = path_inside(docs_dir, source)
        loaded = load_file(path, Path(docs_dir).resolve())
    except (ValueError, OSError, DocumentError):
        return header + "<p>The original document could not be opened.</p>"
    pages = [d for d in loaded.documents if d.metadata.get("page") == page] or loaded.documents
    text = _squash(" ".join(d.page_content for d in pages))
    quote = _squash(str(citation.get("quote", "")))
    at = text.find(quote) if quote else -1
    if at < 0:
        body = html.escape(text[:CONTEXT_BEFORE + CONTEXT_AFTER])
        return header + f"<div class='viewer-text'>{body}</div>"
    start = max(0, at - CONTEXT_BEFORE)
    end = min(len(text), at + len(quote) + CONTEXT_AFTER)
    before = ("… " if start else "") + text[start:at]
    after = text[at + len(quote):end] + (" …" if end < len(text) else "")
    body = (f"{html.escape(before)}<mark id='cited' class='cited'>{html.escape(quote)}</mark>"
            f"{html.escape(after)}")
    # Markdown headings inside the text: a line break instead of the hashes.
    body = re.sub(r"(?:^|(?<=\s))#{1,6} ", "<br>", body).removeprefix("<br>")
    return header + f"<div class='viewer-text'>{body}</div>"


def summary_markdown(docs_dir: Path, source: str) -> str:
    """An evidence summary's body as safe Markdown (HTML escaped), without its front matter."""
    from bot.loaders import decode_text, split_front_matter

    try:
        path = path_inside(docs_dir, source)
        text, _ = decode_text(path.read_bytes())
    except (ValueError, OSError, DocumentError):
        return "The summary could not be opened."
    meta, body, _ = split_front_matter(text)
    title = html.escape(str(meta.get("title") or source))
    return f"### {title}\n\n{html.escape(body.strip(), quote=False)}"

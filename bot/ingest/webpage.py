"""Reading a web page (.html, .htm): its readable blocks in order, its h1-h6 as headings and its
title as metadata; scripts, styles, navigation, footers and forms are dropped."""

from __future__ import annotations

from typing import Any

from bot.errors import DocumentError
from bot.ingest.limits import Heading
from bot.ingest.text import decode_text

_BLOCKS = ("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote", "td", "th", "dd",
           "dt", "figcaption")


def read_html(data: bytes):
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

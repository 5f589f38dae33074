"""Structure-aware chunking with stable ids.

A chunk never crosses a heading or a page: each page is cut at its headings into sections, and only
a section longer than ``chunk_size`` characters is split further, at paragraph, line and sentence
boundaries (LangChain's ``RecursiveCharacterTextSplitter``). Chunk text is always a verbatim slice
of the loaded text, so every quote taken from it can be found in the source. Ids hash the source,
page, position and text, so unchanged content keeps its id across runs.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_text_splitters import RecursiveCharacterTextSplitter

from bot.documents import SETTINGS_VOCAB, Chunk, chunk_id
from bot.ingest.loaders import LoadedFile

MIN_CHUNK_CHARS = 8
_LIST_FIELDS = ("settings", "topics", "audience", "art_forms", "outcomes", "authors")
_SCALAR_FIELDS = ("updated", "year", "evidence_strength", "organisation", "url", "supersedes",
                  "summary", "method", "participants", "country")


def make_splitter(chunk_size: int, chunk_overlap: int) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=min(chunk_overlap, chunk_size // 2),
        separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
        keep_separator="end",
        strip_whitespace=True,
    )


def chunk_file(loaded: LoadedFile, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    splitter = make_splitter(chunk_size, chunk_overlap)
    meta = loaded.metadata
    base = _flat_metadata(meta, loaded.sha256)
    asked = meta.get("also_asked") or {}
    chunks: list[Chunk] = []
    stack: list[tuple[int, str]] = []  # heading levels and titles in force, carried across pages
    for doc in loaded.documents:
        page = doc.metadata.get("page")
        sections, stack = _sections(doc.page_content, doc.metadata.get("headings", []), stack)
        for sec_stack, text in sections:
            pieces = [text] if len(text) <= chunk_size else splitter.split_text(text)
            for piece in pieces:
                piece = piece.strip()
                if len(piece) < MIN_CHUNK_CHARS:
                    continue
                section = sec_stack[-1][1] if sec_stack else None
                path = " > ".join(t for _, t in sec_stack) if sec_stack else None
                position = len(chunks)
                metadata = dict(base)
                if path:
                    metadata["section_path"] = path
                if asked.get(section or ""):  # staff's other phrasings of its question
                    metadata["also_asked"] = " | ".join(asked[section or ""])
                chunks.append(Chunk(
                    id=chunk_id(loaded.source, page, position, piece),
                    text=piece,
                    source=loaded.source,
                    title=meta["title"],
                    doc_type=meta["doc_type"],
                    page=page,
                    section=section,
                    position=position,
                    metadata=metadata,
                ))
    return chunks


Stack = list[tuple[int, str]]


def _sections(text: str, headings: list, stack: Stack) -> tuple[list[tuple[Stack, str]], Stack]:
    """(heading stack, section text) for each stretch between headings, and the stack at the end
    of the page, which the next page starts from: a section may run on over a page break."""
    out: list[tuple[Stack, str]] = []
    cursor = 0
    stack = list(stack)
    for start, end, level, title in sorted(headings):
        body = text[cursor:start]
        if body.strip():
            out.append((list(stack), body.strip()))
        stack = [(lvl, t) for lvl, t in stack if lvl < level] + [(level, title)]
        cursor = end
    body = text[cursor:]
    if body.strip():
        out.append((list(stack), body.strip()))
    return out, stack


def _flat_metadata(meta: dict[str, Any], sha256: str) -> dict[str, Any]:
    """Chroma metadata holds scalars only: lists become comma-joined text plus boolean flags."""
    out: dict[str, Any] = {"sha256": sha256}
    for key in _LIST_FIELDS:
        values = meta.get(key) or []
        if values:
            out[key] = ", ".join(values)
    for setting in meta.get("settings") or []:
        slug = re.sub(r"[^a-z0-9]+", "-", setting.lower()).strip("-")
        if slug in SETTINGS_VOCAB:
            out[f"setting_{slug}"] = True
    for key in _SCALAR_FIELDS:
        value = meta.get(key)
        if value not in (None, "", []):
            out[key] = value if isinstance(value, (int, float, bool)) else str(value)
    return out

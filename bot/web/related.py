"""Where a reader can go after an answer, read from the index and never from the answer's text:
related questions (the headings of the sections next to the cited passages, and of the sections
elsewhere in the library closest to them) and the facts a source card shows about a document
(its kind, the strength of a study's evidence, its date).

The index is grouped into sections once per index version; related questions then cost one
matrix product over the section vectors.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, zip_longest
from typing import Any

import numpy as np

from bot.documents import Citation

# Headings that name no subject a reader would ask about.
GENERIC_HEADINGS = {"source", "sources", "sources and further reading", "further reading",
                    "references", "contents", "introduction", "summary", "what this guide covers",
                    "about this guide", "glossary", "notes"}
# Every evidence summary has the same six headings (DESIGN.md); a question about one of them
# names the study.
EVIDENCE_QUESTIONS = {
    "what it found": "What did “{title}” find?",
    "who took part": "Who took part in “{title}”?",
    "what was done": "What was done in “{title}”?",
    "how it was evaluated": "How was “{title}” evaluated?",
    "limitations and strength of evidence": "How strong is the evidence from “{title}”?",
}


@dataclass(frozen=True)
class Section:
    """A run of passages of one document under one heading, in document order."""

    source: str
    title: str
    doc_type: str
    heading: str | None
    page: int | None
    rows: tuple[int, ...]


class _Sections:
    """The sections of one index version and their vectors (the mean of their passages')."""

    def __init__(self, index: Any) -> None:
        self.items: list[Section] = []
        self.of_row: dict[int, int] = {}
        for source in index.sources():
            rows = sorted(index.rows_of(source),
                          key=lambda r: int(index.metadatas[r].get("position", 0) or 0))
            current: list[int] = []
            key: object = object()
            for row in rows:
                meta = index.metadatas[row]
                row_key = meta.get("section_path") or meta.get("section")
                if current and row_key != key:
                    self._add(index, current)
                    current = []
                key = row_key
                current.append(row)
            if current:
                self._add(index, current)
        self._vectors: np.ndarray | None = None
        self._index = index

    def _add(self, index: Any, rows: list[int]) -> None:
        meta = index.metadatas[rows[0]]
        self.of_row.update({r: len(self.items) for r in rows})
        self.items.append(Section(
            source=str(meta.get("source", "")), title=str(meta.get("title", "")),
            doc_type=str(meta.get("doc_type", "guidance")), heading=meta.get("section"),
            page=meta.get("page"), rows=tuple(rows)))

    @property
    def vectors(self) -> np.ndarray:
        if self._vectors is None:
            passages = self._index.vectors
            matrix = np.stack([passages[list(s.rows)].mean(axis=0) for s in self.items]) \
                if self.items else np.zeros((0, passages.shape[1] if passages.ndim == 2 else 0))
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            self._vectors = matrix / np.where(norms == 0, 1.0, norms)
        return self._vectors


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def sections(index: Any) -> _Sections:
    """The index's sections, grouped on first use and kept as long as the index version is."""
    with _LOCK:
        found = _CACHE.get(index)
        if found is None:
            found = _CACHE[index] = _Sections(index)
        return found


def question_for(section: Section) -> str | None:
    """The question a reader taps to ask about ``section``; None for a heading that names no
    subject (no heading, "Sources and further reading", a study's list of sources)."""
    heading = " ".join(str(section.heading or "").split())
    key = heading.lower().rstrip("?.:")
    if not heading or key in GENERIC_HEADINGS or len(heading) > 160 or \
            heading.strip().lower() == section.title.strip().lower():
        return None
    if section.doc_type == "evidence":
        template = EVIDENCE_QUESTIONS.get(key)
        title = section.title
        if len(title) > 60 and ":" in title:  # "Musical Pathways: an exploratory study of ..."
            title = title.split(":", 1)[0].strip()
        return template.format(title=title) if template else None
    if heading.endswith("?"):
        return heading
    return f"What does the guidance say about “{heading}”?"


def _plain(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]+", "", " ".join(text.lower().split()))


def cited_sections(index: Any, citations: Sequence[Citation | dict[str, Any]]) -> list[int]:
    """The sections the citations quote, in citation order (each once): the section holding the
    passage that contains the quote, else the one whose heading the citation names."""
    found = sections(index)
    out: list[int] = []
    for c in citations:
        c = c.to_dict() if isinstance(c, Citation) else c
        rows = index.rows_of(str(c.get("source", "")))
        quote = " ".join(str(c.get("quote", "")).split())[:200]
        row = next((r for r in rows if quote and quote in " ".join(index.texts[r].split())),
                   None)
        if row is None:
            row = next((r for r in rows if index.metadatas[r].get("section") == c.get("section")),
                       None)
        if row is not None and found.of_row[row] not in out:
            out.append(found.of_row[row])
    return out


def related_questions(index: Any, citations: Sequence[Citation | dict[str, Any]],
                      question: str = "", limit: int = 3) -> list[str]:
    """Up to ``limit`` questions to ask next: the headings of the sections just after and just
    before the cited ones in the same document, interleaved with those of the sections closest
    in meaning to the cited ones (by their passages' vectors), none of them a cited section,
    a heading that names no subject, or the question just asked."""
    found = sections(index)
    cited = cited_sections(index, citations)
    if not cited:
        return []
    neighbours: list[int] = []
    for at in cited:
        for step in (1, -1):
            other = at + step
            if 0 <= other < len(found.items) and \
                    found.items[other].source == found.items[at].source:
                neighbours.append(other)
    similar: list[int] = []
    vectors = found.vectors
    if len(vectors):
        target = vectors[cited].mean(axis=0)
        order = np.argsort(-(vectors @ target), kind="stable")
        similar = [int(i) for i in order[:40]]
    seen = {_plain(question)} if question else set()
    out: list[str] = []
    for candidate in _interleave(neighbours, similar):
        if candidate in cited:
            continue
        asked = question_for(found.items[candidate])
        if asked is None or _plain(asked) in seen:
            continue
        seen.add(_plain(asked))
        out.append(asked)
        if len(out) >= limit:
            break
    return out


def _interleave(first: list[int], second: list[int]) -> list[int]:
    return [i for i in chain.from_iterable(zip_longest(first, second)) if i is not None]


def source_facts(index: Any, source: str) -> dict[str, str] | None:
    """What a source card says about a document, from its first passage's metadata: title,
    kind, the strength of a study's evidence, its year or the date it was updated. None when
    the live index has no such document."""
    rows = index.rows_of(source)
    if not rows:
        return None
    meta = index.metadatas[rows[0]]
    return {key: str(meta.get(key) or "") for key in (
        "title", "doc_type", "evidence_strength", "year", "updated", "country")}

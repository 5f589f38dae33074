"""Quoting passages faithfully: the words a sentence holds (for matching a question to it), text
in a document that talks to an AI (never quoted as an answer), a citation for a quote, and the
chosen sentences composed into answer text with [n] markers, each citation quoting its passage
verbatim. Shared by the extractive answerer, the LLM answerer and the replies.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from langchain_core.documents import Document

from bot.documents import Citation
from bot.ingest.sentences import Sentence

MAX_QUOTE_CHARS = 700

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "is", "are", "be", "can",
         "i", "my", "me", "do", "does", "what", "how", "if", "it", "with", "at", "as", "by",
         "you", "your", "we", "our", "should", "would", "will", "there", "about", "any", "need",
         "this", "that", "from", "have", "has", "am", "was", "were", "into", "when", "who", "which",
         "get", "go", "much", "many", "some", "so", "not", "no", "yes", "they", "them"}


def _stems(text: str) -> set[str]:
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1]
    return {w[:5] for w in words}


# Text in a document that talks to an AI is data, not an instruction: it is never quoted as an
# answer (an LLM also sees it only inside the fenced sources, with its lines removed).
INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|prompts?|rules|above|"
    r"previous|prior)\b|\byou are now\b|\bsystem prompt\b|\bas an ai\b|\bnew instructions?\b",
    re.I)


def citation_for(n: int, doc: Document, quote: str) -> Citation:
    meta = doc.metadata
    score = meta.get("dense_score")
    return Citation(
        n=n, source=str(meta.get("source", "")), title=str(meta.get("title", "")),
        doc_type=str(meta.get("doc_type", "guidance")), page=meta.get("page"),
        section=meta.get("section"), quote=quote,
        score=round(float(score), 4) if score is not None else 0.0,
        updated=meta.get("updated"),
    )


# Said before a paragraph from another section than the one the answer leads with: the first
# paragraph answers; later ones are related guidance, and read as such (graders found them
# unhelpful about as often as helpful when they read as part of the answer).
RELATED = "Also relevant: "


def compose(sentences: Sequence[Sentence], docs: Sequence[Document], mark_related: bool = False,
            in_given_order: bool = False) -> tuple[str, list[Citation]]:
    """Answer text with [n] markers and the citations they point to, numbered in order of use.

    Sentences from one passage that sit close together share one citation whose quote is the
    verbatim span covering them. Each passage's sentences make one paragraph; with
    ``mark_related``, a paragraph from another section than the first one's begins with
    :data:`RELATED`. A passage's sentences are said in the document's order, or with
    ``in_given_order`` in the order given.
    """
    groups: dict[int, list[Sentence]] = {}
    for s in sentences:
        groups.setdefault(s.passage, []).append(s)
    spans: dict[tuple[int, int], tuple[int, int]] = {}
    for passage, members in groups.items():
        members.sort(key=lambda s: s.start)
        start, end = members[0].start, members[-1].end
        if end - start <= MAX_QUOTE_CHARS:
            for s in members:
                spans[(passage, s.start)] = (start, end)
        else:
            for s in members:
                spans[(passage, s.start)] = (s.start, s.end)
    numbers: dict[tuple[int, int, int], int] = {}
    citations: list[Citation] = []
    parts: list[str] = []
    first_use: dict[int, int] = {}
    for i, s in enumerate(sentences):
        first_use.setdefault(s.passage, i)
    position = {id(s): i for i, s in enumerate(sentences)}
    ordered = sorted(sentences, key=lambda s: (first_use[s.passage],
                                               position[id(s)] if in_given_order else s.start))
    paragraphs: list[tuple[Sentence, list[str]]] = []  # (its first sentence, its parts)
    for i, s in enumerate(ordered):
        if i == 0 or s.passage != ordered[i - 1].passage:
            parts = []  # each passage's sentences make one paragraph
            paragraphs.append((s, parts))
        a, b = spans[(s.passage, s.start)]
        key = (s.passage, a, b)
        if key not in numbers:
            numbers[key] = len(citations) + 1
            quote = docs[s.passage].page_content[a:b]
            citations.append(citation_for(numbers[key], docs[s.passage], quote))
        sentence = s.clean.rstrip()
        sentence = sentence[:1].upper() + sentence[1:]
        end = sentence[-1] if sentence[-1] in ".!?:;" else "."
        body = sentence[:-1].rstrip() if sentence[-1] in ".!?:;" else sentence
        parts.append(f"{body} [{numbers[key]}]{end}")  # "It is banned [1]." reads naturally
    first = section_key(docs[ordered[0].passage]) if ordered else None
    texts = [(RELATED if mark_related and section_key(docs[s.passage]) != first else "")
             + " ".join(parts) for s, parts in paragraphs]
    return "\n\n".join(texts), citations


def section_key(doc: Document) -> tuple[str, str]:
    """Which section a passage belongs to: its document and its heading."""
    return str(doc.metadata.get("source") or ""), str(doc.metadata.get("section") or "")

"""Sentences of a passage, with their offsets: the unit an extractive answer is built from.

Shared by the answerer (which scores and quotes them) and the indexer (which embeds every
passage's sentences once, when a version is built, so that answering a question looks their
vectors up instead of embedding them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ABBREVIATIONS = {"e.g", "i.e", "etc", "dr", "mr", "mrs", "ms", "no", "st", "vs", "approx", "cf",
                  "hmp", "hmyoi", "inc", "ltd", "co", "fig", "p", "pp", "para", "vol", "ch"}
_BOUNDARY = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])")
LIST_MARK = re.compile(r"^\s*(?:[-*+\u2022]|\d+[.)])\s+")


@dataclass(frozen=True)
class Sentence:
    passage: int      # index into the retrieved passages
    start: int        # character offsets in the passage text: text[start:end] is verbatim
    end: int
    text: str         # the verbatim text
    clean: str        # the same, without Markdown marks, for the answer


def clean_markdown(text: str) -> str:
    text = LIST_MARK.sub("", text)
    text = re.sub(r"\[([^\]]+)\]\((?:[^)]+)\)", r"\1", text)
    text = re.sub(r"(\*\*|__|`)", "", text)
    text = re.sub(r"(?<!\w)[*_](?=\S)(.+?)(?<=\S)[*_](?!\w)", r"\1", text)
    text = re.sub(r"^#+\s*", "", text)
    return " ".join(text.split())


def _inside_quote(line: str, at: int) -> bool:
    """Whether ``at`` falls inside a quotation that closes later on the same line. A sample
    script ("You could say: "What you share stays in the group. The exception is ..."") cut at
    its first full stop would promise what its next sentence takes back."""
    before, after = line[:at], line[at:]
    if before.count('"') % 2 == 1 and '"' in after:
        return True
    return before.count("\u201c") > before.count("\u201d") and "\u201d" in after


def split_sentences(text: str, passage: int = 0) -> list[Sentence]:
    """Sentences with their offsets; list items and lines are sentences of their own."""
    out: list[Sentence] = []
    for line in re.finditer(r"[^\n]+", text):
        base = line.start()
        body = line.group()
        cuts = [0]
        for m in _BOUNDARY.finditer(body):
            before = body[:m.start()].rstrip(".!?\"')] ").split()
            last = before[-1].lower().rstrip(".") if before else ""
            if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
                continue
            # a trailing ellipsis in a name, then its bracketed short form ("It's Not Your
            # Birthday But... (INYBB)"): the sentence goes on
            if re.search(r"(\.\.|\u2026)$", body[:m.start()].rstrip("\"')]")) and \
                    body[m.end():m.end() + 1] == "(":
                continue
            if _inside_quote(body, m.end()):
                continue  # a quoted script of several sentences is said whole, or not at all
            cuts.append(m.end())
        cuts.append(len(body))
        for a, b in zip(cuts, cuts[1:]):
            piece = body[a:b]
            lead = len(piece) - len(piece.lstrip())
            piece = piece.strip()
            if not piece:
                continue
            start = base + a + lead
            out.append(Sentence(passage, start, start + len(piece), piece, clean_markdown(piece)))
    return out


def sentence_texts(text: str) -> list[str]:
    """The cleaned sentences of a passage: what the answerer embeds and scores."""
    return [s.clean for s in split_sentences(text)]

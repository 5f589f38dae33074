"""The chat's conversation: the turns the server keeps for one visitor (``gr.State``), and the
copy kept in the visitor's own browser so that a reload does not lose it.

Nothing of the conversation is stored on the server. The browser's copy comes back as hostile
input: :func:`restore` accepts only the shape :func:`saved` writes (types checked strictly, sizes
capped, at most :data:`MAX_SAVED_TURNS` turns), keeps a citation only when it names a document of
the live index and quotes one of its passages, and takes titles, dates and related questions from
the index, not from the browser. A restored turn is plain text, escaped when shown, and for
showing only: it takes no feedback and is not used as the context of a follow-up question.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)

MAX_SAVED_TURNS = 30
SAVED_VERSION = 1


@dataclass
class Turn:
    """One question and its answer as the chat shows it."""

    id: int
    question: str
    record: dict[str, Any]            # the answer as ``Answer.to_dict`` gives it
    related: list[str] = field(default_factory=list)
    cards: dict[str, dict[str, str]] = field(default_factory=dict)  # source -> facts
    restored: bool = False            # came back from the browser: shown, never trusted
    feedback: str | None = None       # None, "asking" (for a reason) or "thanks"
    feedback_id: int | None = None    # the recorded "not helpful", for its reason


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class SavedCitation(_Strict):
    n: int = Field(ge=1, le=99)
    source: str = Field(min_length=1, max_length=300)
    page: int | None = Field(default=None, ge=1, le=100000)
    section: str | None = Field(default=None, max_length=300)
    quote: str = Field(max_length=3000)


class SavedTurn(_Strict):
    question: str = Field(max_length=2000)
    answer: str = Field(max_length=20000)
    grounded: bool
    backend: str = Field(default="extractive", pattern=r"^[a-z-]{1,20}$")
    notice: str | None = Field(default=None, max_length=2000)
    searched: str | None = Field(default=None, max_length=2000)
    refused: bool = False
    citations: list[SavedCitation] = Field(default_factory=list, max_length=20)


class Saved(_Strict):
    version: int
    turns: list[SavedTurn] = Field(max_length=MAX_SAVED_TURNS)


def saved(turns: list[Turn]) -> dict[str, Any]:
    """What the browser keeps: the latest turns' questions, answers and citations, nothing else."""
    out = []
    for turn in turns[-MAX_SAVED_TURNS:]:
        record = turn.record
        out.append({
            "question": turn.question[:2000], "answer": str(record.get("answer", ""))[:20000],
            "grounded": bool(record.get("grounded")), "backend": record.get("backend", ""),
            "notice": record.get("notice"), "searched": record.get("searched"),
            "refused": bool(record.get("refused")),
            "citations": [{key: c.get(key) for key in ("n", "source", "page", "section", "quote")}
                          for c in record.get("citations", [])]})
    return {"version": SAVED_VERSION, "turns": out}


def restore(value: Any, index: Any) -> list[Turn]:
    """The turns of a conversation the browser kept, checked; [] for anything else."""
    if not value:
        return []
    try:
        kept = Saved.model_validate(value)
    except ValidationError as exc:
        log.info("saved_conversation_refused errors=%d", exc.error_count())
        return []
    if kept.version != SAVED_VERSION:
        return []
    from bot.web.related import related_questions, source_facts

    turns = []
    for number, turn in enumerate(kept.turns, start=1):
        citations, cards = [], {}
        for c in turn.citations:
            facts = source_facts(index, c.source)
            if facts is None or not quotes_the_index(index, c.source, c.quote):
                continue
            cards[c.source] = facts
            citations.append({"n": c.n, "source": c.source, "title": facts["title"],
                              "doc_type": facts["doc_type"], "page": c.page, "section": c.section,
                              "quote": c.quote, "score": 0.0, "updated": facts["updated"] or None})
        record: dict[str, Any] = {"question": turn.question, "answer": turn.answer,
                                  "grounded": turn.grounded, "backend": turn.backend,
                                  "citations": citations}
        for key in ("notice", "searched"):
            if getattr(turn, key):
                record[key] = getattr(turn, key)
        if turn.refused:
            record["refused"] = True
        related = related_questions(index, citations, turn.question) \
            if turn.grounded and not turn.refused and citations else []
        turns.append(Turn(id=-number, question=turn.question, record=record, related=related,
                          cards=cards, restored=True))
    return turns


def quotes_the_index(index: Any, source: str, quote: str) -> bool:
    """Whether ``quote`` is verbatim text (spacing aside) of one of ``source``'s passages."""
    wanted = " ".join(quote.split())
    return bool(wanted) and any(wanted in " ".join(index.texts[row].split())
                                for row in index.rows_of(source))

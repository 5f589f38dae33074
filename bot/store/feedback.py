"""Feedback and "what users could not find", kept in SQL (SQLite by default, any SQLAlchemy URL
with ``BOT_DATABASE_URL``).

No personal data is written: question text is stored only when staff switch it on, and even then
e-mail addresses, phone numbers and prisoner numbers are masked first. Without it, an entry keeps
only its topic (the closest document), its sources, and the feedback given.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import threading
from collections import defaultdict
from typing import Any

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\w)(\+?\d[\d ()-]{8,}\d)(?!\w)")
_PRISONER_NUMBER = re.compile(r"\b[A-Z]\d{4}[A-Z]{2}\b", re.I)
REASONS = ("wrong", "out of date", "not what I asked")
UNMATCHED = "Not matched to any document"


def mask(text: str) -> str:
    text = _EMAIL.sub("[email]", text)
    text = _PRISONER_NUMBER.sub("[prisoner number]", text)
    return _PHONE.sub("[phone]", text)


class FeedbackStore:
    def __init__(self, url: str) -> None:
        from sqlalchemy import (
            Boolean,
            Column,
            DateTime,
            Integer,
            MetaData,
            String,
            Table,
            Text,
            create_engine,
        )

        self.engine = create_engine(url, future=True)
        meta = MetaData()
        self.events = Table(
            "events", meta,
            Column("id", Integer, primary_key=True),
            Column("created", DateTime, nullable=False),
            Column("kind", String(20), nullable=False),   # not_covered | refused | feedback
            Column("helpful", Boolean, nullable=True),
            Column("reason", String(40), nullable=True),
            Column("question", Text, nullable=True),      # only when staff enable it, masked
            Column("topic", String(300), nullable=False),
            Column("sources", Text, nullable=False),
        )
        self.options = Table("options", meta, Column("key", String(50), primary_key=True),
                             Column("value", String(200), nullable=False))
        meta.create_all(self.engine)
        self._lock = threading.Lock()

    # -- options ---------------------------------------------------------------------------------

    def store_questions(self) -> bool:
        from sqlalchemy import select

        with self.engine.connect() as conn:
            row = conn.execute(select(self.options.c.value).where(
                self.options.c.key == "store_questions")).first()
        return bool(row and row[0] == "yes")

    def set_store_questions(self, enabled: bool) -> None:
        with self._lock, self.engine.begin() as conn:
            conn.execute(self.options.delete().where(self.options.c.key == "store_questions"))
            conn.execute(self.options.insert().values(key="store_questions",
                                                      value="yes" if enabled else "no"))

    # -- recording -------------------------------------------------------------------------------

    def _insert(self, kind: str, question: str, citations: list[dict[str, Any]],
                helpful: bool | None = None, reason: str | None = None,
                topic: str | None = None) -> int:
        topic = topic or (citations[0]["title"] if citations else UNMATCHED)
        sources = ", ".join(dict.fromkeys(c["source"] for c in citations))
        text = mask(question)[:1000] if self.store_questions() else None
        with self._lock, self.engine.begin() as conn:
            result = conn.execute(self.events.insert().values(
                created=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), kind=kind,
                helpful=helpful, reason=reason, question=text, topic=topic[:300],
                sources=sources))
            key = result.inserted_primary_key
            assert key is not None  # an insert into a table with an integer primary key
            return int(key[0])

    def record_answer(self, question: str, answer: dict[str, Any]) -> None:
        """Remember questions the guidance did not cover, and refusals under their policy
        category (so that staff can spot a wrong refusal and add an exemplar); empty questions
        aside."""
        if answer.get("refused"):
            category = answer.get("refused_category") or "unknown"
            self._insert("refused", question, [], topic=f"Refused: {category}")
        elif not answer.get("grounded") and answer.get("backend") != "none":
            self._insert("not_covered", question, answer.get("citations", []))

    def record_feedback(self, question: str, answer: dict[str, Any], helpful: bool,
                        reason: str | None = None) -> int:
        """Record a helpful or not-helpful mark; returns its id (for :meth:`add_reason`)."""
        if reason is not None and reason not in REASONS:
            reason = None
        return self._insert("feedback", question, answer.get("citations", []), helpful=helpful,
                            reason=reason)

    def add_reason(self, event_id: int, reason: str) -> None:
        """The reason for a "not helpful" already recorded (the chat asks for it afterwards)."""
        if reason not in REASONS:
            return
        with self._lock, self.engine.begin() as conn:
            conn.execute(self.events.update().where(
                (self.events.c.id == event_id) & (self.events.c.kind == "feedback")
                & (self.events.c.helpful.is_(False))).values(reason=reason))

    # -- reporting -------------------------------------------------------------------------------

    def rows(self) -> list[dict[str, Any]]:
        from sqlalchemy import select

        with self.engine.connect() as conn:
            result = conn.execute(select(self.events).order_by(self.events.c.created.desc()))
            return [dict(r._mapping) for r in result]

    def report(self) -> list[dict[str, Any]]:
        """Grouped by topic: not covered, not helpful (by reason), helpful, and cited sources."""
        groups: dict[str, dict[str, Any]] = defaultdict(lambda: {
            "not_covered": 0, "refused": 0, "not_helpful": 0, "helpful": 0,
            "reasons": defaultdict(int),
            "sources": set(), "questions": []})
        for row in self.rows():
            group = groups[row["topic"]]
            if row["kind"] in ("not_covered", "refused"):
                group[row["kind"]] += 1
            elif row["helpful"]:
                group["helpful"] += 1
            else:
                group["not_helpful"] += 1
                if row["reason"]:
                    group["reasons"][row["reason"]] += 1
            group["sources"].update(s for s in row["sources"].split(", ") if s)
            if row["question"] and len(group["questions"]) < 5:
                group["questions"].append(row["question"])
        out = []
        for topic, g in groups.items():
            out.append({"topic": topic, "not_covered": g["not_covered"], "refused": g["refused"],
                        "not_helpful": g["not_helpful"], "helpful": g["helpful"],
                        "reasons": ", ".join(f"{k} ({v})" for k, v in sorted(g["reasons"].items())),
                        "sources": ", ".join(sorted(g["sources"])),
                        "example_questions": " | ".join(g["questions"])})
        out.sort(key=lambda r: (-(r["not_covered"] + r["refused"] + r["not_helpful"]),
                                r["topic"]))
        return out

    def report_csv(self) -> str:
        rows = self.report()
        buffer = io.StringIO()
        fields = ["topic", "not_covered", "refused", "not_helpful", "helpful", "reasons",
                  "sources", "example_questions"]
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)
        return buffer.getvalue()


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: one that starts like a formula (=, +, -, @, a tab
    or a carriage return) gets a leading apostrophe, so a question typed by a user never runs."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value

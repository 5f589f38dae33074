"""The chat's answer view as HTML: each question and answer, the answer's [n] markers as buttons
that open the cited passage, a card for each source, related questions, "read the whole
section", and a small pair of feedback buttons.

Everything here reads the answer's fields (its text with [n] markers, its citations) and the
facts the index gives about each cited document; nothing is taken from anywhere else. Every
piece of text from a document, a question or the browser is HTML-escaped, so markup in any of
them is shown as text and never runs. The buttons carry ``data-`` attributes that the page's
script (``bot/web/static/conversation.js``) acts on.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from bot.ingest.sentences import clean_markdown, split_sentences
from bot.web.conversation import Turn
from bot.web.viewer import nice_date

REASONS = (("wrong", "It is wrong"), ("out of date", "It is out of date"),
           ("not what I asked", "It is not what I asked"))
NOT_COVERED = ("The guidance does not seem to cover this question. The passages below are the "
               "closest the library has, and they may not answer it.")
THANKS = "Thank you: your feedback was recorded (no personal details are kept)."
_MARKER = re.compile(r"(\S*)\s?\[(\d{1,2})\]")  # with the word before it, kept on its line


def esc(text: Any) -> str:
    return html.escape(str(text or ""), quote=True)


def dom_id(turn: Turn) -> str:
    return f"t{turn.id}" if turn.id > 0 else f"r{-turn.id}"


def conversation_html(turns: Sequence[Turn], pending: tuple[str, str] | None = None) -> str:
    """The whole conversation; ``pending`` is a (question, text so far) not yet answered."""
    parts = []
    if any(t.restored for t in turns):
        parts.append("<p class='kept-note'>This conversation was kept in this browser from your "
                     "last visit. “Start a new conversation” clears it.</p>")
    parts += [turn_html(t) for t in turns]
    if pending is not None:
        question, so_far = pending
        body = (f"<p>{esc(so_far)}</p>" if so_far else
                "<p class='pending'>Looking in the guidance…</p>")
        parts.append(f"<article class='turn pending-turn' aria-busy='true'>"
                     f"{_question(question)}<div class='answer'>{body}</div></article>")
    if not parts:
        parts.append("<div class='empty-chat'><p>Type a question below, or choose one of the "
                     "example questions. Each answer shows the passages it comes from.</p></div>")
    return ("<div class='conversation' role='log' aria-label='Conversation'>"
            + "".join(parts) + "</div>")


def _question(question: str) -> str:
    shown = question if question.strip() else "(empty question)"
    return (f"<h3 class='question'><span class='visually-hidden'>You asked: </span>"
            f"{esc(shown)}</h3>")


def turn_html(turn: Turn) -> str:
    tid = dom_id(turn)
    record = turn.record
    return (f"<article class='turn' id='{tid}'>{_question(turn.question)}"
            f"{answer_html(record, tid)}{sources_html(record, tid, turn.cards)}"
            f"{next_steps_html(turn)}{feedback_html(turn)}</article>")


def answer_html(record: dict[str, Any], tid: str) -> str:
    """The short answer first, then what the guidance says, each [n] a button."""
    cites = {int(c["n"]): c for c in record.get("citations", [])}
    text = str(record.get("answer", ""))
    parts = []
    if record.get("notice"):
        parts.append(f"<p class='notice'><em>{esc(record['notice'])}</em></p>")
    if record.get("searched"):
        parts.append(f"<p class='searched'>Searched for: {esc(record['searched'])}</p>")
    grounded, backend = record.get("grounded"), record.get("backend")
    if not grounded and backend != "none":
        parts.append(f"<div class='not-covered' role='note'><p><strong>Not covered by the "
                     f"guidance.</strong> {esc(NOT_COVERED)}</p></div>")
        parts += [f"<p>{_markers(p, tid, cites)}</p>" for p in _paragraphs(text)]
        return "<div class='answer'>" + "".join(parts) + "</div>"
    body, _, dated = text.partition("\n\n(The cited guidance")
    sentences = [s.text for s in split_sentences(body)] if grounded else [body]
    if record.get("refused") or len(sentences) < 2:
        parts += [f"<p>{_markers(p, tid, cites)}</p>" for p in _paragraphs(text)]
    else:
        parts.append(f"<p class='in-short'><strong>In short:</strong> "
                     f"{_markers(sentences[0], tid, cites)}</p>")
        items = "".join(f"<li>{_markers(s, tid, cites)}</li>" for s in sentences[1:])
        parts.append(f"<p class='says'><strong>What the guidance says:</strong></p><ul>{items}</ul>")
        if dated:
            parts.append(f"<p class='dated'>{esc('(The cited guidance' + dated)}</p>")
    return "<div class='answer'>" + "".join(parts) + "</div>"


def _paragraphs(text: str) -> list[str]:
    return [p for p in (p.strip() for p in text.split("\n\n")) if p]


def _markers(text: str, tid: str, cites: dict[int, dict[str, Any]]) -> str:
    """``text`` escaped, each [n] that names a citation turned into a button that opens it."""
    def button(match: re.Match) -> str:
        n = int(match.group(2))
        if n not in cites:
            return match.group(0)
        c = cites[n]
        label = f"Source {n}: {c.get('title', '')}" + (f", {place(c)}" if place(c) else "")
        return (f"<span class='cite-wrap'>{match.group(1)}&nbsp;<button type='button' "
                f"class='cite' data-card='{tid}-s{n}' aria-controls='viewer' "
                f"aria-expanded='false' aria-label='{esc(label)}' title='{esc(label)}'>"
                f"<span aria-hidden='true'>{n}</span></button></span>")

    return _MARKER.sub(button, esc(text))


def place(c: dict[str, Any]) -> str:
    return ", ".join(x for x in (f"page {c['page']}" if c.get("page") else "",
                                 str(c.get("section") or "")) if x)


def kind_label(c: dict[str, Any], facts: dict[str, str]) -> str:
    """"Guidance, updated 10 January 2026" or "Evidence (2020, limited strength)"."""
    if (facts.get("doc_type") or c.get("doc_type")) == "evidence":
        details = [facts.get("year", ""), facts.get("country", "")]
        if facts.get("evidence_strength"):
            details.append(f"evidence: {facts['evidence_strength']}")
        shown = ", ".join(d for d in details if d)
        return "Study summary" + (f" ({shown})" if shown else "")
    updated = c.get("updated") or facts.get("updated")
    return "Guidance" + (f", updated {nice_date(updated)}" if updated else "")


def sources_html(record: dict[str, Any], tid: str, cards: dict[str, dict[str, str]]) -> str:
    cites = record.get("citations", [])
    if not cites:
        return ""
    heading = "Sources" if record.get("grounded") else "Closest passages (they may not answer it)"
    items = []
    for c in cites:
        n = int(c["n"])
        facts = cards.get(c.get("source", ""), {})
        where = place(c)
        items.append(
            f"<li class='source-card' id='{tid}-s{n}' data-n='{n}' data-source='{esc(c['source'])}'"
            f" data-page='{esc(c.get('page') or '')}' data-section='{esc(c.get('section') or '')}'"
            f" data-quote='{esc(c.get('quote', ''))}'>"
            f"<div class='card-head'><span class='card-n' aria-hidden='true'>{n}</span>"
            f"<div><p class='card-title'><span class='visually-hidden'>Source {n}: </span>"
            f"{esc(c.get('title') or c['source'])}</p>"
            f"<p class='card-meta'>{esc(kind_label(c, facts))}"
            f"{' · ' + esc(where) if where else ''}</p></div></div>"
            f"<blockquote class='card-quote'>{esc(clean_markdown(c.get('quote', '')))}</blockquote>"
            f"<button type='button' class='card-open' data-card='{tid}-s{n}' aria-controls='viewer'"
            f" aria-expanded='false'>Read it in the document<span class='visually-hidden'>: source "
            f"{n}</span></button></li>")
    return (f"<section class='sources' aria-label='{esc(heading)}'><h4 class='sources-title'>"
            f"{esc(heading)}</h4><ol class='source-cards'>{''.join(items)}</ol></section>")


def next_steps_html(turn: Turn) -> str:
    """Related questions, one tap each, and the whole section of the first source."""
    record = turn.record
    cites = record.get("citations", [])
    parts = []
    if turn.related:
        buttons = "".join(f"<li><button type='button' class='ask' data-ask='{esc(q)}'>{esc(q)}"
                          f"</button></li>" for q in turn.related)
        parts.append(f"<h4 class='next-title'>Related questions</h4><ul class='related'>"
                     f"{buttons}</ul>")
    first = cites[0] if cites else None
    if first and record.get("grounded") and not record.get("refused") and first.get("section"):
        parts.append(f"<button type='button' class='whole-section' data-card='{dom_id(turn)}-s"
                     f"{int(first['n'])}' data-whole='yes' aria-controls='viewer' "
                     f"aria-expanded='false'>Read the whole section: “{esc(first['section'])}”"
                     f"</button>")
    if not parts:
        return ""
    return "<nav class='next-steps' aria-label='Where to go next'>" + "".join(parts) + "</nav>"


def feedback_html(turn: Turn) -> str:
    if turn.restored or turn.record.get("backend") == "none":
        return ""
    fid = f"{dom_id(turn)}-feedback"
    if turn.feedback == "thanks":
        return (f"<div class='feedback' id='{fid}' tabindex='-1'><p class='thanks' role='status'>"
                f"{THANKS}</p></div>")
    if turn.feedback == "asking":
        reasons = "".join(f"<button type='button' class='fb reason' data-turn='{turn.id}' "
                          f"data-feedback='{esc(value)}'>{esc(label)}</button>"
                          for value, label in REASONS)
        return (f"<div class='feedback asking' id='{fid}' role='group' tabindex='-1' "
                f"aria-label='Why was it not helpful?'><p class='fb-label'>Sorry it did not help. "
                f"Why not? (optional)</p>{reasons}<button type='button' class='fb reason' "
                f"data-turn='{turn.id}' data-feedback='none'>Skip</button></div>")
    return (f"<div class='feedback' id='{fid}' role='group' aria-label='Was this answer helpful?'>"
            f"<span class='fb-label' aria-hidden='true'>Was this helpful?</span>"
            f"<button type='button' class='fb' data-turn='{turn.id}' data-feedback='helpful' "
            f"aria-label='Yes, this answer was helpful'>Yes</button>"
            f"<button type='button' class='fb' data-turn='{turn.id}' data-feedback='unhelpful' "
            f"aria-label='No, this answer was not helpful'>No</button></div>")

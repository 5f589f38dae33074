"""Plain-text rendering shared by every front-end: citations, answers, reports and status.

:func:`render_sources` is the one function that turns citations into text; the CLI, the web app
and conversation exports all use it, so a citation reads the same everywhere.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.documents import Answer, Citation, IndexReport


def citation_place(c: Citation) -> str:
    where = []
    if c.page:
        where.append(f"page {c.page}")
    if c.section:
        where.append(c.section)
    return ", ".join(where)


def render_sources(citations: Sequence[Citation]) -> str:
    lines = []
    for c in citations:
        place = citation_place(c)
        place = f" ({place})" if place else ""
        dated = f", updated {c.updated}" if c.updated else ""
        lines.append(f"[{c.n}] {c.title}{place} - {c.source}{dated}\n    \"{c.quote}\"")
    return "\n".join(lines)


def answer_text(question: str, answer: Answer, multiple: bool = False) -> str:
    parts = []
    if multiple:
        parts.append(f"Q: {question}")
    if answer.notice:
        parts.append(f"Note: {answer.notice}")
    if answer.searched and answer.searched != question:
        parts.append(f"(searched for: {answer.searched})")
    parts.append(answer.text)
    if answer.citations:
        heading = "Sources:" if answer.grounded else "Closest passages (they may not answer it):"
        parts.append(f"\n{heading}\n{render_sources(answer.citations)}")
    return "\n".join(parts) + ("\n" if multiple else "")


def index_summary(report: IndexReport) -> str:
    if report.dry_run:
        changes = report.changes
        lines = ["Dry run: nothing was changed. This is what indexing would do:"]
        for label, key in (("add", "add"), ("update", "update"), ("remove", "remove"),
                           ("fail", "fail")):
            for source in changes.get(key, []):
                lines.append(f"  {label:<7}{source}")
        if len(lines) == 1:
            lines.append("  nothing: the index is up to date")
        lines.append(f"  {report.unchanged} unchanged")
    else:
        lines = [f"Indexed {report.documents} documents ({report.chunks} passages) in "
                 f"{report.seconds:.1f} s: {report.added} added, {report.updated} updated, "
                 f"{report.removed} removed, {report.unchanged} unchanged; "
                 f"{report.embedded} passages embedded. Live version: {report.version}."]
    for failure in report.failed:
        lines.append(f"  could not read {failure.source}: {failure.reason}")
    for skip in report.skipped:
        lines.append(f"  skipped {skip.source}: {skip.reason}")
    for warning in report.warnings:
        lines.append(f"  warning {warning['source']}: {warning['message']}")
    return "\n".join(lines)


def status_text(info: Any) -> str:
    if not info.ready:
        return "No index has been built yet: run 'python -m bot index' first."
    lines = [
        f"Live version:  {info.version}",
        f"Documents:     {info.documents}",
        f"Passages:      {info.chunks}",
        f"Model:         {info.model}",
        f"Last indexed:  {info.last_indexed}",
        f"Answers:       {info.backend}",
        f"Store:         {info.store} ({info.index_dir})",
        f"Versions kept: {len(info.versions)} (use 'python -m bot rollback' to go back one)",
    ]
    return "\n".join(lines)


def eval_text(result: dict[str, Any]) -> str:
    lines = [f"Dataset: {result['dataset']}  queries: {result['queries']}  "
             f"documents: {result['documents']}"]
    for mode, metrics in result["results"].items():
        shown = "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in metrics.items())
        lines.append(f"  {mode:<7} {shown}")
    for key in ("answers", "failures"):
        if key in result:
            lines.append(f"{key}: {result[key]}" if key == "answers" else "")
    return "\n".join(line for line in lines if line)


def conversation_markdown(turns: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """A conversation, with every answer's citations, as Markdown for export."""
    lines = ["# Conversation with the guidance chatbot", ""]
    for number, (question, answer) in enumerate(turns, start=1):
        lines += [f"## {number}. {question}", "", answer.get("answer", ""), ""]
        if answer.get("notice"):
            lines += [f"*{answer['notice']}*", ""]
        cites = answer.get("citations") or []
        if cites:
            lines.append("Sources:" if answer.get("grounded") else
                         "Closest passages (they may not answer it):")
            for c in cites:
                place = ", ".join(x for x in (f"page {c['page']}" if c.get("page") else "",
                                              c.get("section") or "") if x)
                lines.append(f"- [{c['n']}] {c['title']}{' (' + place + ')' if place else ''}, "
                             f"{c['source']}: \"{c['quote']}\"")
            lines.append("")
    lines.append("*Guidance, not legal advice; local rules vary. Check with the establishment.*")
    return "\n".join(lines) + "\n"


EXPORT_KEEP_SECONDS = 3600


def export_path(filename: str, keep_seconds: float = EXPORT_KEEP_SECONDS) -> Path:
    """A fresh path for a file the web app hands to a user (a conversation, a report). Exports
    live in one folder under the system's temporary directory, and those older than
    ``keep_seconds`` are deleted whenever a new one is made, so they never pile up."""
    base = Path(tempfile.gettempdir()) / "bot-exports"
    base.mkdir(exist_ok=True)
    now = time.time()
    for old in base.iterdir():
        try:
            if now - old.stat().st_mtime > keep_seconds:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    return Path(tempfile.mkdtemp(dir=base)) / filename

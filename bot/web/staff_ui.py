"""The protected staff tab of the web app: upload, remove, preview, reindex, rollback, status.

Handlers only call :class:`bot.web.staff.Staff` (which checks the password on the server for every
action) and render its results as plain text; a :class:`~bot.errors.BotError` becomes one
sentence in the result box, never a traceback.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from bot.errors import BotError
from bot.render import index_summary, status_text
from bot.web.staff import ENABLE_HINT, Staff

log = logging.getLogger(__name__)


FAILED = "Something went wrong: the live index was left as it was. Try again."


def _guard(action):
    """Every staff handler answers with a sentence: a BotError's own, or a general one (the
    details go to the log, never to the page)."""
    @functools.wraps(action)
    def run(*args: Any, **kwargs: Any):
        try:
            return action(*args, **kwargs)
        except BotError as exc:
            return exc.message
        except Exception:
            log.exception("staff_action_failed")
            return FAILED
    return run


def _raise_sentences(action):
    """For handlers whose output is a table or a file: errors become a Gradio error sentence."""
    @functools.wraps(action)
    def run(*args: Any, **kwargs: Any):
        import gradio as gr

        try:
            return action(*args, **kwargs)
        except BotError as exc:
            raise gr.Error(exc.message) from None
        except Exception:
            log.exception("staff_action_failed")
            raise gr.Error("Something went wrong while reading the feedback: try again.") from None
    return run


def _forget_upload(path: Path) -> None:
    """Remove the copy the web framework kept of an upload (and its folder, when empty)."""
    try:
        path.unlink(missing_ok=True)
        path.parent.rmdir()
    except OSError:
        pass


def build_staff_tab(bot) -> None:
    import gradio as gr

    staff = Staff(bot)
    if not staff.enabled:
        gr.Markdown(ENABLE_HINT, elem_id="staff-off")
        return
    gr.Markdown("### Staff area\nAdd, replace or remove guidance, preview what a reindex would "
                "change, reindex, and roll back. Every action needs the staff password.")
    password = gr.Textbox(label="Staff password", type="password", elem_id="staff-password")
    result = gr.Textbox(label="Result", lines=12, interactive=False, elem_id="staff-result")

    with gr.Row():
        status_btn = gr.Button("Index status")
        preview_btn = gr.Button("Preview changes")
        reindex_btn = gr.Button("Reindex now", variant="primary")
        rollback_btn = gr.Button("Roll back to previous version")
    with gr.Accordion("Upload a document", open=True):
        upload = gr.File(label="Document (.md, .pdf, .docx, .txt, .html; 20 MB at most)",
                         type="filepath", elem_id="staff-upload")
        folder = gr.Radio(choices=["guidance", "evidence"], value="guidance", label="Kind")
        replace = gr.Checkbox(label="Replace an existing file with the same name")
        upload_btn = gr.Button("Upload")
    with gr.Accordion("What users could not find", open=False):
        gr.Markdown("Questions the guidance did not cover, requests refused (by policy "
                    "category: a wrong refusal is fixed by adding the question to 'allowed' in "
                    "bot/policy/requests.yaml) and answers marked not helpful, "
                    "grouped by the closest document. Question text is kept only if you switch "
                    "it on below, and e-mail addresses, phone numbers and prisoner numbers are "
                    "masked first.")
        keep_questions = gr.Checkbox(label="Store the text of questions (masked)",
                                     elem_id="staff-keep-questions")
        with gr.Row():
            report_btn = gr.Button("Show the report", elem_id="staff-report-button")
            csv_btn = gr.Button("Download as CSV")
        report = gr.Dataframe(headers=["Topic", "Not covered", "Refused", "Not helpful",
                                       "Helpful", "Reasons", "Sources", "Example questions"],
                              interactive=False, wrap=True, elem_id="staff-report")
        csv_file = gr.File(label="Report (CSV)", visible=False)
    with gr.Accordion("Remove a document", open=False):
        source = gr.Textbox(label="Document to remove (as listed, e.g. guidance/old-notes.md)")
        remove_btn = gr.Button("Remove and reindex", variant="stop")

    @_guard
    def do_status(pw: str) -> str:
        info = staff.status(pw)
        listed = "\n".join(f"  {d}" for d in staff.documents(pw))
        return f"{status_text(info)}\n\nDocuments in the folder:\n{listed}"

    @_guard
    def do_preview(pw: str) -> str:
        from bot.ingest.indexer import drive

        return index_summary(drive(staff.index_in_child(pw, dry_run=True)))

    @_guard
    def do_reindex(pw: str, progress=gr.Progress()) -> str:
        from bot.ingest.indexer import drive

        def show(event) -> None:
            if event.total:
                progress((event.done, event.total), desc=f"{event.label} {event.current}".strip())

        return index_summary(drive(staff.index_in_child(pw), show))

    @_guard
    def do_upload(pw: str, path: str | None, kind: str, confirm: bool) -> str:
        if not path:
            return "Choose a file to upload first."
        file = Path(path)
        try:
            return staff.upload_file(pw, file, file.name, kind, replace=confirm)
        finally:
            _forget_upload(file)

    @_guard
    def do_remove(pw: str, name: str, progress=gr.Progress()) -> str:
        message = staff.remove(pw, name.strip())
        return f"{message}\n{do_reindex(pw, progress)}"

    @_raise_sentences
    def do_report(pw: str):
        staff.check(pw)
        rows = bot.feedback().report()
        return [[r["topic"], r["not_covered"], r["refused"], r["not_helpful"], r["helpful"],
                 r["reasons"], r["sources"], r["example_questions"]] for r in rows]

    @_raise_sentences
    def do_csv(pw: str):
        staff.check(pw)
        from bot.render import export_path

        path = export_path("what-users-could-not-find.csv")
        path.write_text(bot.feedback().report_csv(), encoding="utf-8")
        return gr.update(value=str(path), visible=True)

    @_guard
    def do_keep(pw: str, keep: bool) -> str:
        staff.check(pw)
        bot.feedback().set_store_questions(keep)
        return ("Question text will be stored, masked." if keep else
                "Question text will not be stored.")

    report_btn.click(do_report, [password], [report], api_name=False)
    csv_btn.click(do_csv, [password], [csv_file], api_name=False)
    keep_questions.input(do_keep, [password, keep_questions], [result], api_name=False)
    status_btn.click(do_status, [password], [result], api_name=False)
    preview_btn.click(do_preview, [password], [result], api_name=False)
    reindex_btn.click(do_reindex, [password], [result], api_name=False)
    rollback_btn.click(_guard(staff.rollback), [password], [result], api_name=False)
    upload_btn.click(do_upload, [password, upload, folder, replace], [result], api_name=False)
    remove_btn.click(do_remove, [password, source], [result], api_name=False)

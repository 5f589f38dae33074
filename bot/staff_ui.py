"""The protected staff tab of the web app: upload, remove, preview, reindex, rollback, status.

Handlers only call :class:`bot.staff.Staff` (which checks the password on the server for every
action) and render its results as plain text; a :class:`~bot.errors.BotError` becomes one
sentence in the result box, never a traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bot.errors import BotError
from bot.render import index_summary, status_text
from bot.staff import ENABLE_HINT, Staff

log = logging.getLogger(__name__)


def _guard(action):
    def run(*args: Any) -> str:
        try:
            return action(*args)
        except BotError as exc:
            return exc.message
        except Exception:
            log.exception("staff_action_failed")
            return "Something went wrong: the live index was left as it was. Try again."
    return run


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
        gr.Markdown("Questions the guidance did not cover and answers marked not helpful, "
                    "grouped by the closest document. Question text is kept only if you switch "
                    "it on below, and e-mail addresses, phone numbers and prisoner numbers are "
                    "masked first.")
        keep_questions = gr.Checkbox(label="Store the text of questions (masked)",
                                     elem_id="staff-keep-questions")
        with gr.Row():
            report_btn = gr.Button("Show the report", elem_id="staff-report-button")
            csv_btn = gr.Button("Download as CSV")
        report = gr.Dataframe(headers=["Topic", "Not covered", "Not helpful", "Helpful",
                                       "Reasons", "Sources", "Example questions"],
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
        from bot.indexer import drive

        return index_summary(drive(staff.index(pw, dry_run=True)))

    def do_reindex(pw: str, progress=gr.Progress()) -> str:
        from bot.indexer import drive

        def show(event) -> None:
            if event.total:
                progress((event.done, event.total), desc=f"{event.label} {event.current}".strip())

        try:
            return index_summary(drive(staff.index(pw), show))
        except BotError as exc:
            return exc.message

    @_guard
    def do_upload(pw: str, path: str | None, kind: str, confirm: bool) -> str:
        if not path:
            return "Choose a file to upload first."
        file = Path(path)
        return staff.upload(pw, file.name, file.read_bytes(), kind, replace=confirm)

    def do_remove(pw: str, name: str, progress=gr.Progress()) -> str:
        try:
            message = staff.remove(pw, name.strip())
        except BotError as exc:
            return exc.message
        return f"{message}\n{do_reindex(pw, progress)}"

    def do_report(pw: str):
        try:
            staff.check(pw)
        except BotError as exc:
            raise gr.Error(exc.message) from None
        rows = bot.feedback().report()
        return [[r["topic"], r["not_covered"], r["not_helpful"], r["helpful"], r["reasons"],
                 r["sources"], r["example_questions"]] for r in rows]

    def do_csv(pw: str):
        do_report(pw)
        import tempfile

        path = Path(tempfile.mkdtemp(prefix="report-")) / "what-users-could-not-find.csv"
        path.write_text(bot.feedback().report_csv(), encoding="utf-8")
        return gr.update(value=str(path), visible=True)

    def do_keep(pw: str, keep: bool) -> str:
        try:
            staff.check(pw)
        except BotError as exc:
            return exc.message
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

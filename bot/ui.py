"""The Gradio web app: the chat (with sources, a passage viewer, feedback and export), an
evidence browser, and the staff area.

Handlers are thin: they call the bot's use cases and render. Everything taken from a document or
typed by a user is HTML-escaped before Gradio renders it, so markup inside a guidance document or
a question is shown as text and never runs.

The conversation shown in the chat is kept on the server (``gr.State``) and is never read back
from the browser: a chat message is a place where Gradio accepts file references, and nothing a
client sends there is trusted (docs/security.md).
"""


import html
import logging
from typing import Any

from bot.documents import SETTINGS_VOCAB, Answer
from bot.render import citation_place, conversation_markdown, export_path

log = logging.getLogger(__name__)

EXAMPLES = {
    "Getting in": [
        "How do I get started working in a prison as an artist?",
        "How long does security vetting take?",
        "Can I take my mobile phone into the prison?",
    ],
    "Safety and boundaries": [
        "What should I do if someone tells me they want to hurt themselves?",
        "What if a participant asks me to pass on a message?",
        "Can I photograph participants' artwork?",
    ],
    "Evidence and money": [
        "What evidence is there for music programmes in prisons?",
        "How should I set my fees for prison work?",
        "How can I evaluate a small project?",
    ],
}

INTRO = """## Guidance for artists working in criminal justice settings
Ask about working in prisons, young offender institutions, secure children's homes, probation or
community settings in England and Wales. Answers come only from the guidance and evidence
summaries in this library, with the passages they are taken from. If the library does not cover
your question, the bot says so and suggests who to ask.

**This is guidance, not legal advice, and local rules vary: always check with the establishment.
Please do not type names or personal details about anyone.**"""

SETTING_LABELS = {
    "prison": "Prison", "yoi": "Young offender institution", "secure-training-centre":
    "Secure training centre", "secure-childrens-home": "Secure children's home",
    "probation": "Probation", "approved-premises": "Approved premises", "community": "Community",
}
SOURCE_HEADERS = ["#", "Document", "Page or section", "Quoted passage"]
REASON_CHOICES = [("It is wrong", "wrong"), ("It is out of date", "out of date"),
                  ("It is not what I asked", "not what I asked")]

CSS = """
/* WCAG AA: white on Gradio's default orange is 2.8:1; this darker orange is 5.2:1. */
button.primary, .primary { background: #b93a0b !important; border-color: #b93a0b !important;
  color: #ffffff !important; }
button.primary:hover { background: #9a300a !important; }
footer, footer a, footer button { color: #374151 !important; opacity: 1 !important; }
button[role="tab"][aria-selected="true"] { color: #b93a0b !important; }
.cited { background: #ffe066; color: #1a1a1a; padding: 0 2px; }
.viewer-text { line-height: 1.6; max-height: 28em; overflow-y: auto; white-space: pre-wrap; }
.viewer-where { color: inherit; }
#not-covered p { font-weight: 600; }
@media (max-width: 480px) {
  .gradio-container { padding: 4px !important; }
  .stack-on-phone { flex-direction: column !important; }
  .stack-on-phone > * { min-width: 100% !important; }
}
"""


def escape(text: str) -> str:
    return html.escape(text or "", quote=False)


def source_rows(answer: Answer) -> list[list[str]]:
    return [[str(c.n), c.title, citation_place(c) or "-", c.quote] for c in answer.citations]


def render_answer(answer: Answer) -> str:
    """Markdown for the chat bubble: the short answer first, then what the guidance says. All
    document text is escaped."""
    parts = []
    if answer.notice:
        parts.append(f"*{escape(answer.notice)}*")
    if answer.searched:
        parts.append(f"*Searched for: {escape(answer.searched)}*")
    if not answer.grounded and answer.backend != "none":
        parts.append("**Not covered by the guidance.**")
        parts.append(escape(answer.text))
        return "\n\n".join(parts)
    body, _, dated = answer.text.partition("\n\n(The cited guidance")
    from bot.answer import split_sentences

    sentences = [s.text for s in split_sentences(body)] if answer.grounded else [body]
    if answer.refused or len(sentences) < 2:
        parts.append(escape(answer.text))
    else:
        parts.append(f"**In short:** {escape(sentences[0])}")
        rest = "\n".join(f"- {escape(s)}" for s in sentences[1:])
        parts.append(f"**What the guidance says:**\n\n{rest}")
        if dated:
            parts.append(escape("(The cited guidance" + dated))
    return "\n\n".join(parts)


def filters_from(setting: str | None, kind: str | None) -> dict[str, str]:
    out = {}
    if setting and setting != "any":
        out["setting"] = setting
    if kind and kind != "any":
        out["doc_type"] = kind
    return out


def build_ui(bot) -> Any:
    import gradio as gr

    # Files Gradio keeps for downloads and uploads are deleted once an hour old.
    with gr.Blocks(title="Arts in criminal justice: guidance chatbot",
                   delete_cache=(600, 3600)) as demo:
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                _ask_tab(bot)
            with gr.Tab("Evidence", id="evidence"):
                refresh, outputs = _evidence_tab(bot)
            with gr.Tab("Staff", id="staff"):
                from bot.staff_ui import build_staff_tab

                build_staff_tab(bot)

        def ask(question: str) -> dict[str, Any]:
            """Answer one question; returns the JSON object of `python -m bot ask --json`."""
            return bot.ask(question).to_dict(question)

        gr.api(ask, api_name="ask")
        # a study indexed after the page was built shows up on the next page load
        demo.load(refresh, None, outputs, api_name=False)
    return demo


def _ask_tab(bot) -> None:
    import gradio as gr

    from bot.errors import BotError
    from bot.viewer import passage_html

    def respond(message: str, history, turns, setting: str, kind: str):
        history = list(history or [])  # the server's own copy (a State), never the browser's
        turns = list(turns or [])
        asked = [{"role": "user", "content": q} for q, _ in turns]
        shown = message if message.strip() else "(empty question)"
        history.append({"role": "user", "content": escape(shown)})
        answer = None
        try:
            for event in bot.ask_stream(message, history=asked,
                                        filters=filters_from(setting, kind)):
                if isinstance(event, str):  # an LLM's text as it arrives, not yet checked
                    live = history + [{"role": "assistant", "content": escape(event)}]
                    yield "", live, gr.skip(), turns, gr.skip(), gr.skip(), gr.skip(), gr.skip()
                    continue
                answer = event
        except Exception as exc:  # shown as one sentence, never a traceback
            if not isinstance(exc, BotError):
                log.exception("ask_failed")
            reason = exc.message if isinstance(exc, BotError) else \
                "Something went wrong while answering: please try again."
            raise gr.Error(reason) from None
        history.append({"role": "assistant", "content": render_answer(answer)})
        record = answer.to_dict(message)
        turns.append((message, record))
        try:
            bot.feedback().record_answer(message, record)
        except Exception:  # feedback must never stop an answer
            log.warning("feedback_record_failed", exc_info=True)
        banner = "" if answer.grounded or answer.backend == "none" else (
            "The guidance does not cover this question. The passages below are the closest "
            "the library has, and they do not answer it.")
        yield "", history, history, turns, source_rows(answer), banner, "", ""

    def open_citation(turns, evt: gr.SelectData):
        if not turns:
            return ""
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        cites = turns[-1][1].get("citations", [])
        if row is None or not 0 <= row < len(cites):
            return ""
        return passage_html(bot.settings.docs_dir, cites[row])

    def give_feedback(turns, helpful: bool, reason: str | None):
        if not turns:
            return "Ask a question first, then tell us whether the answer helped."
        question, record = turns[-1]
        bot.feedback().record_feedback(question, record, helpful,
                                       None if helpful else reason)
        return "Thank you: your feedback was recorded (no personal details are kept)."

    def export(turns):
        if not turns:
            raise gr.Error("There is nothing to export yet: ask a question first.")
        path = export_path("conversation.md")
        path.write_text(conversation_markdown(turns), encoding="utf-8")
        return gr.update(value=str(path), visible=True)

    turns = gr.State([])
    shown = gr.State([])  # the chat as displayed, kept on the server
    gr.Markdown(INTRO)
    with gr.Row(elem_classes="stack-on-phone"):
        setting = gr.Dropdown(
            choices=[("Any setting", "any")] + [(SETTING_LABELS[s], s) for s in SETTINGS_VOCAB],
            value="any", label="Setting", elem_id="filter-setting")
        kind = gr.Radio(choices=[("All", "any"), ("Guidance", "guidance"),
                                 ("Evidence", "evidence")],
                        value="any", label="Kind of document", elem_id="filter-kind")
    chat = gr.Chatbot(label="Conversation", height=440, sanitize_html=True,
                      feedback_options=None, elem_id="chat")
    with gr.Row(elem_classes="stack-on-phone"):
        question = gr.Textbox(label="Your question", placeholder="Type a question and press "
                              "Enter", scale=5, max_lines=6, elem_id="question")
        send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask-button")
    with gr.Accordion("Example questions", open=True):
        for topic, questions in EXAMPLES.items():
            gr.Examples(examples=[[q] for q in questions], inputs=[question], label=topic)
    banner = gr.Markdown(elem_id="not-covered")
    sources = gr.Dataframe(headers=SOURCE_HEADERS, value=[], label="Sources (select a row to "
                           "see the passage in its document)", interactive=False, wrap=True,
                           elem_id="sources", datatype=["str", "str", "str", "str"],
                           column_widths=["6%", "24%", "20%", "50%"])
    viewer = gr.HTML(elem_id="viewer", label="Cited passage")
    with gr.Group():
        gr.Markdown("**Was this answer helpful?**")
        with gr.Row(elem_classes="stack-on-phone"):
            helpful = gr.Button("Yes, helpful", elem_id="feedback-yes")
            unhelpful = gr.Button("No, not helpful", elem_id="feedback-no")
        reason = gr.Radio(choices=REASON_CHOICES, label="If not, why? (optional)",
                          elem_id="feedback-reason")
        thanks = gr.Markdown(elem_id="feedback-thanks")
    with gr.Row(elem_classes="stack-on-phone"):
        export_btn = gr.Button("Download this conversation (Markdown)", elem_id="export")
        clear = gr.Button("Start a new conversation", variant="secondary", elem_id="clear")
    download = gr.File(label="Conversation", visible=False, elem_id="export-file")

    outputs = [question, chat, shown, turns, sources, banner, viewer, thanks]
    inputs = [question, shown, turns, setting, kind]
    question.submit(respond, inputs, outputs, api_name="chat")
    send.click(respond, inputs, outputs, api_name=False)
    sources.select(open_citation, [turns], [viewer], api_name=False)
    helpful.click(lambda t: give_feedback(t, True, None), [turns], [thanks], api_name=False)
    unhelpful.click(lambda t, r: give_feedback(t, False, r), [turns, reason], [thanks],
                    api_name=False)
    export_btn.click(export, [turns], [download], api_name=False)
    clear.click(lambda: ("", [], [], [], [], "", "", ""), None, outputs, api_name=False)


def _evidence_tab(bot) -> tuple[Any, list[Any]]:
    import gradio as gr

    from bot.services import STRENGTH_ORDER, first_year
    from bot.viewer import summary_markdown

    headers = ["Study", "Year", "Country", "Art forms", "Settings", "Outcomes",
               "Strength of evidence"]
    listed = ("art_forms", "settings", "outcomes", "country")  # filters on list-valued fields

    def load() -> list[dict[str, Any]]:
        try:
            return bot.evidence_table()
        except Exception:
            log.warning("evidence_table_failed", exc_info=True)
            return []

    def values(row: dict[str, Any], key: str) -> list[str]:
        return [v.strip() for v in row[key].split(",") if v.strip()]

    def choices(rows: list[dict[str, Any]], key: str) -> list[str]:
        return ["any"] + sorted({v for r in rows for v in values(r, key)})

    def decades(rows: list[dict[str, Any]]) -> list[str]:
        years = {first_year(r["year"]) for r in rows} - {None}
        return ["any"] + [f"{d}s" for d in sorted({y // 10 * 10 for y in years}, reverse=True)]

    def table(art: str, setting: str, outcome: str, country: str, decade: str, strength: str,
              studies: list[dict[str, Any]] | None = None):
        """The rows matching the filters, from ``studies`` (loaded afresh when not given)."""
        wanted = dict(zip(listed, (art, setting, outcome, country)))
        rows = [r for r in (load() if studies is None else studies)
                if all(v == "any" or v in values(r, k) for k, v in wanted.items())
                and (strength == "any" or r["evidence_strength"] == strength)
                and (decade == "any" or (first_year(r["year"]) or 0) // 10 * 10
                     == int(decade[:4]))]
        data = [[r["title"], r["year"], r["country"], r["art_forms"], r["settings"],
                 r["outcomes"], r["evidence_strength"]] for r in rows]
        count = f"**{len(rows)} {'study' if len(rows) == 1 else 'studies'}** match."
        return data, [r["source"] for r in rows], count

    def open_summary(shown: list[str], evt: gr.SelectData):
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if row is None or not 0 <= row < len(shown):
            return ""
        return summary_markdown(bot.settings.docs_dir, shown[row])

    rows = load()
    gr.Markdown("### Evidence browser\nSummaries of evaluations and studies of arts in criminal "
                "justice, strongest evidence first, then the newest. Filter the table, then "
                "select a study to read its summary. Studies from outside England and Wales are "
                "marked by their country.")
    with gr.Row(elem_classes="stack-on-phone"):
        art = gr.Dropdown(choices(rows, "art_forms"), value="any", label="Art form",
                          elem_id="ev-art")
        setting = gr.Dropdown(choices(rows, "settings"), value="any", label="Setting",
                              elem_id="ev-setting")
        outcome = gr.Dropdown(choices(rows, "outcomes"), value="any", label="Outcome",
                              elem_id="ev-outcome")
    with gr.Row(elem_classes="stack-on-phone"):
        country = gr.Dropdown(choices(rows, "country"), value="any", label="Country",
                              elem_id="ev-country")
        decade = gr.Dropdown(decades(rows), value="any", label="Published",
                             elem_id="ev-year")
        strength = gr.Dropdown(["any", *STRENGTH_ORDER], value="any",
                               label="Strength of evidence", elem_id="ev-strength")
    controls = [art, setting, outcome, country, decade, strength]
    first, first_sources, first_count = table(*["any"] * len(controls), studies=rows)
    shown = gr.State(first_sources)
    count = gr.Markdown(first_count, elem_id="evidence-count")
    studies = gr.Dataframe(headers=headers, value=first, interactive=False, wrap=True,
                           label="Studies", elem_id="evidence-table",
                           column_widths=["30%", "7%", "9%", "13%", "14%", "17%", "10%"])
    summary = gr.Markdown(elem_id="evidence-summary")
    for control in controls:
        control.change(table, controls, [studies, shown, count], api_name=False)
    studies.select(open_summary, [shown], [summary], api_name=False)

    def refresh():
        rows = load()
        data, sources, counted = table(*["any"] * len(controls), studies=rows)
        updates = [gr.update(choices=choices(rows, key), value="any") for key in listed]
        return (data, sources, counted, *updates,
                gr.update(choices=decades(rows), value="any"), "any")

    return refresh, [studies, shown, count, art, setting, outcome, country, decade, strength]

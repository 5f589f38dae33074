"""The Gradio chat: questions and answers, a sources panel, filters and example questions.

Handlers are thin: they call :meth:`bot.services.Bot.ask` and render. Everything taken from a
document or typed by a user is HTML-escaped before Gradio renders it, so markup inside a guidance
document or a question is shown as text and never runs.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from bot.documents import SETTINGS_VOCAB, Answer
from bot.render import citation_place

log = logging.getLogger(__name__)

EXAMPLES = [
    "Can I take my mobile phone into the prison?",
    "How long does security vetting take?",
    "What should I do if someone tells me they want to hurt themselves?",
    "Can I photograph participants' artwork?",
    "What evidence is there for music programmes in prisons?",
    "How should I set my fees for prison work?",
]

INTRO = """### Guidance for artists working in criminal justice settings
Ask a question about working in prisons, young offender institutions, secure children's homes,
probation or community settings in England and Wales. Answers come only from the guidance and
evidence summaries in this library, with the passages they are taken from.

*This is guidance, not legal advice, and local rules vary: always check with the establishment.
Please do not type names or personal details about anyone.*"""

SETTING_LABELS = {
    "prison": "Prison", "yoi": "Young offender institution", "secure-training-centre":
    "Secure training centre", "secure-childrens-home": "Secure children's home",
    "probation": "Probation", "approved-premises": "Approved premises", "community": "Community",
}
SOURCE_HEADERS = ["#", "Document", "Page or section", "Quoted passage"]


def escape(text: str) -> str:
    return html.escape(text or "", quote=False)


def source_rows(answer: Answer) -> list[list[str]]:
    return [[str(c.n), c.title, citation_place(c) or "-", c.quote] for c in answer.citations]


def render_answer(answer: Answer) -> str:
    """Markdown for the chat bubble: all document text escaped, notices first."""
    parts = []
    if answer.notice:
        parts.append(f"*{escape(answer.notice)}*")
    if answer.searched:
        parts.append(f"*Searched for: {escape(answer.searched)}*")
    if not answer.grounded and answer.backend != "none":
        parts.append("**Not covered by the guidance.**")
    parts.append(escape(answer.text))
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

    with gr.Blocks(title="Arts in criminal justice: guidance chatbot") as demo:
        with gr.Tabs():
            with gr.Tab("Ask"):
                _ask_tab(bot)
            with gr.Tab("Staff"):
                from bot.staff_ui import build_staff_tab

                build_staff_tab(bot)

        def ask(question: str) -> dict[str, Any]:
            """Answer one question; returns the JSON object of `python -m bot ask --json`."""
            return bot.ask(question).to_dict(question)

        gr.api(ask, api_name="ask")
    return demo


def _ask_tab(bot) -> None:
    import gradio as gr

    def respond(message: str, history: list[dict[str, Any]], setting: str, kind: str):
        history = list(history or [])
        turns = [{"role": m["role"], "content": _text(m.get("content"))} for m in history
                 if m.get("role") == "user"]
        try:
            answer = bot.ask(message, history=turns, filters=filters_from(setting, kind))
        except Exception as exc:  # shown as one sentence, never a traceback
            from bot.errors import BotError

            if not isinstance(exc, BotError):
                log.exception("ask_failed")
            reason = exc.message if isinstance(exc, BotError) else \
                "Something went wrong while answering: please try again."
            raise gr.Error(reason) from None
        shown = message if message.strip() else "(empty question)"
        history += [{"role": "user", "content": escape(shown)},
                    {"role": "assistant", "content": render_answer(answer)}]
        banner = "" if answer.grounded or answer.backend == "none" else (
            "The guidance does not cover this question. The passages below are the closest "
            "the library has, and they do not answer it.")
        return "", history, source_rows(answer), banner

    gr.Markdown(INTRO)
    with gr.Row():
        setting = gr.Dropdown(
            choices=[("Any setting", "any")] + [(SETTING_LABELS[s], s) for s in SETTINGS_VOCAB],
            value="any", label="Setting", scale=1)
        kind = gr.Radio(choices=[("All", "any"), ("Guidance", "guidance"),
                                 ("Evidence", "evidence")],
                        value="any", label="Kind of document", scale=1)
    chat = gr.Chatbot(label="Conversation", height=420, sanitize_html=True,
                      feedback_options=None)
    with gr.Row():
        question = gr.Textbox(label="Your question", placeholder="Type a question and press "
                              "Enter", scale=5, max_lines=6, elem_id="question")
        send = gr.Button("Ask", variant="primary", scale=1)
    gr.Examples(examples=[[e] for e in EXAMPLES], inputs=[question], label="Example questions")
    banner = gr.Markdown(elem_id="not-covered")
    sources = gr.Dataframe(headers=SOURCE_HEADERS, value=[], label="Sources",
                           interactive=False, wrap=True, elem_id="sources",
                           datatype=["str", "str", "str", "str"])
    clear = gr.Button("Start a new conversation", variant="secondary")
    outputs = [question, chat, sources, banner]
    question.submit(respond, [question, chat, setting, kind], outputs, api_name="chat")
    send.click(respond, [question, chat, setting, kind], outputs, api_name=False)
    clear.click(lambda: ("", [], [], ""), None, outputs, api_name=False)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return html.unescape(content)
    if isinstance(content, list):
        return " ".join(_text(c.get("text", "")) if isinstance(c, dict) else str(c)
                        for c in content)
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return str(content or "")

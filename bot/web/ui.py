"""The Gradio web app: the chat (answers with clickable citations, source cards, the cited
passage beside the answer, related questions and feedback), an evidence browser, and the staff
area.

Handlers are thin: they call the bot's use cases and render with :mod:`bot.web.answer_view`, which
escapes everything taken from a document, a question or the browser, so markup in any of them is
shown as text and never runs. Passages are rendered by :mod:`bot.web.viewer` through a sanitiser.

The conversation is kept on the server (``gr.State``) and never read back from the browser as
state: a chat message is a place where Gradio accepts file references, and nothing a client sends
there is trusted (docs/security.md). So that a reload does not lose it, a copy of the questions,
answers and citations is kept in the visitor's own browser (``gr.BrowserState``, localStorage);
what comes back from there is checked by :func:`bot.web.conversation.restore` and only shown.
"""

import functools
import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.documents import SETTINGS_VOCAB
from bot.render import conversation_markdown, export_path
from bot.web.answer_view import conversation_html, esc
from bot.web.conversation import Turn, restore, saved

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"

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

TITLE = "## Guidance for artists working in criminal justice settings"
SMALL_PRINT = ("This is guidance, not legal advice, and local rules vary: always check with the "
               "establishment. Please do not type names or personal details about anyone.")
WELCOME = """Ask about working in prisons, young offender institutions, secure children's homes,
probation or community settings in England and Wales. Answers come only from the guidance and
evidence summaries in this library, with the passages they are taken from: select a numbered
source to read it in its document. If the library does not cover your question, the bot says so
and suggests who to ask. Your conversation is kept in this browser only, until you start a new
one."""

SETTING_LABELS = {
    "prison": "Prison", "yoi": "Young offender institution", "secure-training-centre":
    "Secure training centre", "secure-childrens-home": "Secure children's home",
    "probation": "Probation", "approved-premises": "Approved premises", "community": "Community",
}
VIEWER_SHELL = (
    "<aside class='viewer-panel' aria-label='Cited passage'><div class='viewer-bar'>"
    "<p class='viewer-label'>Passage</p><button type='button' class='viewer-close' "
    "aria-label='Close the passage'>Close</button></div><div class='viewer-body'>"
    "<p class='viewer-empty'>Select a numbered source in an answer to read its passage here, "
    "highlighted in its document.</p></div></aside>")
EXAMPLES_JS = ("element.addEventListener('click', (event) => { const b = event.target.closest("
               "'button[data-ask]'); if (b) trigger('ask', {question: b.dataset.ask}); });")
# BrowserState "encrypts" with a key that is sent to the page: it keeps a casual look at
# localStorage from reading the conversation, nothing more. A fixed key lets a conversation
# survive a restart of the app and work across app processes.
STORAGE_KEY = "cj-guidance-conversation"
STORAGE_OBFUSCATION = "shown-to-the-page-anyway"
MAX_QUESTION_CHARS = 2000


@functools.lru_cache(maxsize=1)
def page_css() -> str:
    return (STATIC / "app.css").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def conversation_js() -> str:
    return (STATIC / "conversation.js").read_text(encoding="utf-8")


def filters_from(setting: str | None, kind: str | None) -> dict[str, str]:
    out = {}
    if setting and setting != "any":
        out["setting"] = setting
    if kind and kind != "any":
        out["doc_type"] = kind
    return out


def examples_html() -> str:
    groups = []
    for topic, questions in EXAMPLES.items():
        buttons = "".join(f"<li><button type='button' class='ask' data-ask='{esc(q)}'>{esc(q)}"
                          f"</button></li>" for q in questions)
        groups.append(f"<h4>{esc(topic)}</h4><ul>{buttons}</ul>")
    return "<div class='examples'>" + "".join(groups) + "</div>"


class PassageRequest(BaseModel):
    """What the page sends to open a passage: hostile until checked."""

    model_config = ConfigDict(strict=True, extra="ignore")
    source: str = Field(min_length=1, max_length=300)
    n: int = Field(default=0, ge=0, le=99)
    quote: str = Field(default="", max_length=3000)
    page: int | None = Field(default=None, ge=1, le=100000)
    section: str | None = Field(default=None, max_length=300)
    whole: bool = False


class Event(BaseModel):
    """The data of an event the conversation's buttons send (a related question, feedback)."""

    model_config = ConfigDict(strict=True, extra="ignore")
    question: str | None = Field(default=None, max_length=MAX_QUESTION_CHARS)
    turn: int | None = Field(default=None, ge=1, le=10**6)
    value: str | None = Field(default=None, max_length=40)


def event_data(evt: Any) -> Event:
    try:
        return Event.model_validate(getattr(evt, "_data", None) or {})
    except ValidationError:
        return Event()


def build_ui(bot) -> Any:
    import gradio as gr

    from bot.web.evidence_ui import build_evidence_tab
    from bot.web.staff_ui import build_staff_tab

    # Files Gradio keeps for downloads and uploads are deleted once an hour old.
    with gr.Blocks(title="Arts in criminal justice: guidance chatbot",
                   delete_cache=(600, 3600)) as demo:
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                restore_chat, restore_io = _ask_tab(bot)
            with gr.Tab("Evidence", id="evidence"):
                refresh, outputs = build_evidence_tab(bot)
            with gr.Tab("Staff", id="staff"):
                build_staff_tab(bot)

        def ask(question: str) -> dict[str, Any]:
            """Answer one question; returns the JSON object of `python -m bot ask --json`."""
            return bot.ask(question).to_dict(question)

        gr.api(ask, api_name="ask")
        # a study indexed after the page was built shows up on the next page load
        demo.load(refresh, None, outputs, api_name=False)
        demo.load(restore_chat, *restore_io, api_name=False, show_progress="hidden")
    return demo


def _ask_tab(bot):
    import gradio as gr

    from bot.errors import BotError
    from bot.web.viewer import passage_html

    def index_or_none():
        try:
            return bot.search_index()
        except BotError:
            return None

    def turn_for(question: str, answer, turns: list[Turn]) -> Turn:
        """The new turn, with its related questions and source facts from the index."""
        from bot.web.related import related_questions, source_facts

        record = answer.to_dict(question)
        related, cards = [], {}
        index = index_or_none()
        if index is not None and answer.citations:
            try:
                cards = {c.source: source_facts(index, c.source) or {} for c in answer.citations}
                # a decline's closest passages are not its subject: nothing related to offer
                if answer.grounded and not answer.refused:
                    related = related_questions(index, answer.citations, question)
            except Exception:  # extras must never stop an answer
                log.warning("related_failed", exc_info=True)
        number = max((t.id for t in turns if not t.restored), default=0) + 1
        return Turn(id=number, question=question, record=record, related=related, cards=cards)

    def respond(message: str, turns, setting: str, kind: str, typed: bool = True):
        turns = list(turns or [])  # the server's own copy (a State), never the browser's
        message = (message or "")[:20000]
        box = "" if typed else gr.skip()
        yield box, conversation_html(turns, (message, "")), gr.skip(), gr.skip(), gr.skip()
        # earlier questions of this visit give a follow-up its context; restored ones do not
        asked = [{"role": "user", "content": t.question} for t in turns if not t.restored]
        answer = None
        try:
            for event in bot.ask_stream(message, history=asked,
                                        filters=filters_from(setting, kind)):
                if isinstance(event, str):  # an LLM's text as it arrives, not yet checked
                    yield gr.skip(), conversation_html(turns, (message, event)), gr.skip(), \
                        gr.skip(), gr.skip()
                    continue
                answer = event
        except Exception as exc:  # shown as one sentence, never a traceback
            if not isinstance(exc, BotError):
                log.exception("ask_failed")
            reason = exc.message if isinstance(exc, BotError) else \
                "Something went wrong while answering: please try again."
            yield gr.skip(), conversation_html(turns), gr.skip(), gr.skip(), gr.skip()
            raise gr.Error(reason) from None
        turn = turn_for(message, answer, turns)
        turns.append(turn)
        try:
            bot.feedback().record_answer(message, turn.record)
        except Exception:  # feedback must never stop an answer
            log.warning("feedback_record_failed", exc_info=True)
        yield box, conversation_html(turns), turns, saved(turns), gr.update(open=False)

    def ask_from_page(turns, setting: str, kind: str, evt: gr.EventData):
        """A related or example question, asked with one tap."""
        question = event_data(evt).question
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        yield from respond(question, turns, setting, kind, typed=False)

    def give_feedback(turns, evt: gr.EventData):
        """"Yes" records helpful; "No" records not helpful and asks why; a reason is added to
        that record. One mark per answer; answers restored from the browser take none."""
        data = event_data(evt)
        turns = list(turns or [])
        turn = next((t for t in turns if t.id == data.turn and not t.restored), None)
        if turn is None:
            return gr.skip(), gr.skip()
        store = bot.feedback()
        if turn.feedback is None and data.value in ("helpful", "unhelpful"):
            helpful = data.value == "helpful"
            turn.feedback_id = store.record_feedback(turn.question, turn.record, helpful)
            turn.feedback = "thanks" if helpful else "asking"
        elif turn.feedback == "asking" and data.value:
            if turn.feedback_id is not None and data.value != "none":
                store.add_reason(turn.feedback_id, data.value)
            turn.feedback = "thanks"
        else:
            return gr.skip(), gr.skip()
        return conversation_html(turns), turns

    def passage(request: Any) -> str:
        """The cited passage's HTML for the page's viewer (called from the page's script)."""
        try:
            wanted = PassageRequest.model_validate(request)
        except ValidationError:
            return "<p>The passage could not be opened.</p>"
        from bot.web.related import source_facts

        index = index_or_none()
        facts = source_facts(index, wanted.source) if index is not None else None
        if facts is None:  # only documents of the live index, whatever the page asks for
            return "<p>That document is not in the library.</p>"
        citation = {"n": wanted.n, "source": wanted.source, "title": facts["title"],
                    "page": wanted.page, "section": wanted.section, "quote": wanted.quote,
                    "updated": facts["updated"] or None}
        return passage_html(bot.settings.docs_dir, citation, whole=wanted.whole)

    def export(turns):
        if not turns:
            raise gr.Error("There is nothing to export yet: ask a question first.")
        path = export_path("conversation.md")
        path.write_text(conversation_markdown([(t.question, t.record) for t in turns]),
                        encoding="utf-8")
        return gr.update(value=str(path), visible=True)

    def restore_chat(kept):
        index = index_or_none()
        turns = restore(kept, index) if index is not None else []
        return conversation_html(turns), turns, gr.update(open=not turns)

    def new_conversation():
        return "", conversation_html([]), [], saved([]), gr.update(open=True)

    turns = gr.State([])
    kept = gr.BrowserState(saved([]), storage_key=STORAGE_KEY, secret=STORAGE_OBFUSCATION)
    gr.Markdown(TITLE, elem_classes="app-title")
    with gr.Row(elem_id="ask-layout", equal_height=False):
        with gr.Column(scale=3, min_width=320, elem_id="chat-column"):
            conversation = gr.HTML(conversation_html([]), elem_id="conversation",
                                   js_on_load=conversation_js(), server_functions=[passage],
                                   apply_default_css=False)
            with gr.Row(elem_id="ask-row"):
                question = gr.Textbox(label="Your question", placeholder="Type a question",
                                      scale=5, max_lines=6, elem_id="question")
                send = gr.Button("Ask", variant="primary", scale=1, min_width=70,
                                 elem_id="ask-button")
            gr.Markdown(SMALL_PRINT, elem_classes="small-print")
            with gr.Row(elem_id="chat-actions"):
                clear = gr.Button("Start a new conversation", size="sm", elem_id="clear")
                export_btn = gr.Button("Download this conversation (Markdown)", size="sm",
                                       elem_id="export")
            download = gr.File(label="Conversation", visible=False, elem_id="export-file")
            with gr.Accordion("Welcome and example questions", open=True,
                              elem_id="welcome") as welcome:
                gr.Markdown(WELCOME)
                examples = gr.HTML(examples_html(), elem_id="examples", js_on_load=EXAMPLES_JS,
                                   apply_default_css=False)
            with gr.Accordion("Narrow the answers: setting and kind of document", open=False,
                              elem_id="filters"):
                with gr.Row(elem_classes="stack-on-phone"):
                    setting = gr.Dropdown(
                        choices=[("Any setting", "any")]
                        + [(SETTING_LABELS[s], s) for s in SETTINGS_VOCAB],
                        value="any", label="Setting", elem_id="filter-setting")
                    kind = gr.Radio(choices=[("All", "any"), ("Guidance", "guidance"),
                                             ("Evidence", "evidence")],
                                    value="any", label="Kind of document", elem_id="filter-kind")
        with gr.Column(scale=2, min_width=280, elem_id="viewer-column"):
            gr.HTML(VIEWER_SHELL, elem_id="viewer", js_on_load=None, apply_default_css=False)

    outputs = [question, conversation, turns, kept, welcome]
    hidden = {"show_progress": "hidden"}
    question.submit(respond, [question, turns, setting, kind], outputs, api_name="chat", **hidden)
    send.click(respond, [question, turns, setting, kind], outputs, api_name=False, **hidden)
    conversation.ask(ask_from_page, [turns, setting, kind], outputs, api_name=False, **hidden)
    examples.ask(ask_from_page, [turns, setting, kind], outputs, api_name=False, **hidden)
    conversation.feedback(give_feedback, [turns], [conversation, turns], api_name=False,
                          **hidden)
    export_btn.click(export, [turns], [download], api_name=False)
    clear.click(new_conversation, None, outputs, api_name=False, **hidden)
    return restore_chat, ([kept], [conversation, turns, welcome])

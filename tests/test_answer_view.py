"""The answer view without a browser: related questions from the index, source cards, citation
buttons, passages rendered through the sanitiser, and the conversation kept in the browser
(checked when it comes back)."""

from __future__ import annotations

import re

import pytest

from bot.web.answer_view import conversation_html, kind_label
from bot.web.conversation import MAX_SAVED_TURNS, Turn, restore, saved
from bot.web.related import Section, question_for, related_questions
from bot.web.viewer import markdown_html, passage_html

PHONE_QUOTE = ("You must not take a mobile phone into a prison unless the prison has given you "
               "written authorisation.")
PHONES = {"n": 1, "source": "guidance/phones.md", "title": "Phones and recording devices",
          "doc_type": "guidance", "page": None, "section": "Can I take my phone in?",
          "quote": PHONE_QUOTE, "score": 0.8, "updated": "2026-01-10"}
RECORD = {"question": "Can I take my phone in?", "grounded": True, "backend": "extractive",
          "answer": f"{PHONE_QUOTE} [1] Leave it in a locker [1]. See also [7].",
          "citations": [PHONES]}


def turn(record=RECORD, **extra) -> Turn:
    return Turn(id=1, question=record["question"], record=record, **extra)


# -- related questions ----------------------------------------------------------------------------

def test_related_questions_are_the_neighbouring_and_closest_headings(indexed_bot):
    index = indexed_bot.search_index()
    related = related_questions(index, [PHONES], "Can I take my phone in?")
    # the next section of the same document comes first, then the closest sections elsewhere
    assert related[0] == "What does the guidance say about “Cameras and recorders”?"
    assert 2 <= len(related) <= 3 and len(set(related)) == len(related)
    assert "Can I take my phone in?" not in related  # the cited section is not offered again
    evidence = {**PHONES, "source": "evidence/music-study.md", "section": "What it found",
                "quote": "Young people who took part in the music programme said they felt "
                         "more confident"}
    assert all("What it found" not in q for q in related_questions(index, [evidence]))
    assert related_questions(index, [{**PHONES, "source": "guidance/none.md"}]) == []


@pytest.mark.parametrize(("heading", "doc_type", "expected"), [
    ("Can I bring art materials?", "guidance", "Can I bring art materials?"),
    ("Key training", "guidance", "What does the guidance say about “Key training”?"),
    ("What it found", "evidence", "What did “A study” find?"),
    ("Source", "evidence", None),
    ("Sources and further reading", "guidance", None),
    (None, "guidance", None),
    ("A study", "guidance", None),  # a heading that only repeats the title
])
def test_a_heading_becomes_a_question(heading, doc_type, expected):
    section = Section("x.md", "A study", doc_type, heading, None, (0,))
    assert question_for(section) == expected


# -- the answer view ------------------------------------------------------------------------------

def test_markers_become_buttons_that_name_their_source():
    page = conversation_html([turn()])
    buttons = re.findall(r"<button type='button' class='cite' data-card='t1-s1'[^>]*>", page)
    assert len(buttons) == 2
    assert "aria-label='Source 1: Phones and recording devices, Can I take my phone in?'" \
        in buttons[0]
    assert "See also [7]." in page  # a marker that names no citation stays text
    assert "id='t1-s1'" in page and f"data-quote='{PHONE_QUOTE}'" in page


def test_everything_from_a_document_or_question_is_escaped():
    hostile = "<img src=x onerror=alert(1)> \"quoted' [1]"
    record = {**RECORD, "answer": hostile, "notice": "<b>n</b>",
              "citations": [{**PHONES, "title": "<script>t()</script>", "quote": hostile,
                             "section": "<i>s</i>"}]}
    page = conversation_html([turn(record, related=["<svg onload=x>?"])], pending=(hostile, ""))
    assert "<img" not in page and "<script" not in page and "<svg" not in page
    assert "<b>" not in page and "<i>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "data-quote='&lt;img src=x onerror=alert(1)&gt; &quot;quoted&#x27; [1]'" in page


def test_source_cards_say_what_kind_of_source_and_when():
    assert kind_label(PHONES, {"doc_type": "guidance"}) == "Guidance, updated 10 January 2026"
    study = {"doc_type": "evidence", "year": "2020", "evidence_strength": "limited",
             "country": ""}
    assert kind_label({"doc_type": "evidence"}, study) == "Study summary (2020, evidence: limited)"
    page = conversation_html([turn(cards={"guidance/phones.md": {"doc_type": "guidance"}})])
    assert "<ol class='source-cards'>" in page and "Guidance, updated 10 January 2026" in page


def test_declined_and_refused_answers_offer_no_whole_section():
    declined = {**RECORD, "grounded": False, "answer": "The library does not cover this."}
    page = conversation_html([turn(declined)])
    assert "Not covered by the guidance." in page and "Closest passages" in page
    assert "whole-section" not in page
    refused = {**RECORD, "refused": True}
    assert "whole-section" not in conversation_html([turn(refused)])


def test_feedback_asks_the_reason_only_after_no():
    fresh = conversation_html([turn()])
    assert "data-feedback='helpful'" in fresh and "data-feedback='unhelpful'" in fresh
    assert "out of date" not in fresh
    asking = conversation_html([turn(feedback="asking")])
    assert "data-feedback='out of date'" in asking and "data-feedback='helpful'" not in asking
    assert "Thank you" in conversation_html([turn(feedback="thanks")])
    assert "data-feedback" not in conversation_html([turn(restored=True)])


# -- passages ------------------------------------------------------------------------------------

HOSTILE_MD = """---
title: Lists
---
## What is on List A?

**List A** covers drugs, weapons and explosives. Bringing them in is a criminal offence.

- Drugs and psychoactive substances
- Firearms and [a bad link](javascript:window.__pwned=1) and [a good one](https://www.gov.uk)
- <img src=x onerror="window.__pwned=1"> and <script>window.__pwned=1</script>

<a href="javascript:window.__pwned=1">raw link</a> <iframe src="https://example.org"></iframe>
<div onclick="window.__pwned=1" style="position:fixed">div</div>

## What is on List B?

Alcohol and phones.
"""


def test_markdown_passages_are_formatted_and_inert(docs):
    (docs / "guidance" / "lists.md").write_text(HOSTILE_MD, encoding="utf-8")
    citation = {"n": 2, "source": "guidance/lists.md", "title": "Lists", "page": None,
                "section": "What is on List A?",
                "quote": "covers drugs, weapons and explosives. Bringing them in is a criminal "
                         "offence."}
    page = passage_html(docs, citation)
    assert "<strong>List A</strong>" in page and "<li>Drugs and psychoactive substances</li>" \
        in page
    assert "<mark id='cited' class='cited'>covers drugs, weapons" in page
    assert "**" not in page and "\n- " not in page
    tags = elements(page)
    assert {t for t, _ in tags} <= {"h3", "p", "a", "div", "h4", "strong", "mark", "ul", "li"}
    assert all(not name.startswith("on") and name != "style" for _, attrs in tags
               for name, _ in attrs)
    assert all(not (value or "").lower().startswith("javascript") for _, attrs in tags
               for _, value in attrs)
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page  # shown as text
    assert '<a href="https://www.gov.uk" target="_blank" rel="noopener noreferrer nofollow">' \
        in page
    assert "List B" not in page  # the next section is not part of this passage
    whole = passage_html(docs, {**citation, "quote": "nothing like this"}, whole=True)
    assert "<h4>What is on List A?</h4>" in whole and "List B" not in whole


def elements(fragment: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every element of ``fragment`` with its attributes, as a browser's parser sees them."""
    from html.parser import HTMLParser

    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collect().feed(fragment)
    return found


def test_a_quote_across_a_paragraph_and_a_list_is_marked_in_each():
    fragment = markdown_html("Items: \ue000first part.\n\n- second\ue001 part\n")
    from bot.web.viewer import _highlight

    marked = _highlight(fragment)
    assert marked.count("<mark") == 2 and marked.count("id='cited'") == 1
    assert "<li><mark class='cited'>second</mark> part</li>" in marked


def test_pdf_pages_are_shown_as_text(tmp_path):
    from tests.helpers import make_pdf

    make_pdf(tmp_path / "guidance" / "book.pdf", [[("h1", "Handbook"), (
        "p", "Keys are **never** taken home <b>at all</b>.")]])
    page = passage_html(tmp_path, {"n": 1, "source": "guidance/book.pdf", "page": 1,
                                   "title": "Book", "quote": "Keys are **never** taken home"})
    assert "<mark id='cited' class='cited'>Keys are **never** taken home</mark>" in page
    assert "&lt;b&gt;at all&lt;/b&gt;" in page and "?page=1" in page


# -- the conversation kept in the browser ---------------------------------------------------------

def test_a_saved_conversation_comes_back_checked(indexed_bot):
    index = indexed_bot.search_index()
    kept = saved([turn()])
    assert set(kept["turns"][0]["citations"][0]) == {"n", "source", "page", "section", "quote"}
    back = restore(kept, index)
    assert [t.question for t in back] == ["Can I take my phone in?"] and back[0].restored
    assert back[0].record["citations"][0]["title"] == "Phones and recording devices"
    assert back[0].related  # recomputed from the index, not taken from the browser
    assert back[0].id < 0 and back[0].feedback is None


def file_data(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "x.md"}


GOOD = saved([turn()])["turns"][0]


@pytest.mark.parametrize("value", [
    None, "text", 42, [], {"turns": []}, {"version": 2, "turns": [GOOD]},
    {"version": 1, "turns": [{**GOOD, "question": file_data("/etc/passwd")}]},
    {"version": 1, "turns": [{**GOOD, "grounded": "yes"}]},
    {"version": 1, "turns": [{**GOOD, "answer": "x" * 20001}]},
    {"version": 1, "turns": [GOOD] * (MAX_SAVED_TURNS + 1)},
    {"version": 1, "turns": [{**GOOD, "citations": [{**GOOD["citations"][0], "n": "1"}]}]},
    {"version": 1, "turns": [{**GOOD, "citations": [file_data("/etc/passwd")]}]},
    {"version": "1", "turns": [GOOD]},
])
def test_a_saved_conversation_of_the_wrong_shape_is_dropped(indexed_bot, value):
    assert restore(value, indexed_bot.search_index()) == []


@pytest.mark.parametrize("citation", [
    {"source": "../../etc/passwd"}, {"source": "/etc/passwd"}, {"source": "guidance/none.md"},
    {"quote": "a quotation the document does not hold"}, {"quote": "<script>x()</script>"},
])
def test_a_saved_citation_must_quote_an_indexed_document(indexed_bot, citation):
    value = {"version": 1, "turns": [{**GOOD, "citations": [{**GOOD["citations"][0],
                                                               **citation}]}]}
    back = restore(value, indexed_bot.search_index())
    assert back[0].record["citations"] == [] and back[0].related == []
    assert "class='cite'" not in conversation_html(back)  # the [1] marker stays plain text


@pytest.mark.slow
@pytest.mark.parametrize("question", ["Can I take my mobile phone into the prison?",
                                      "How long does security vetting take?",
                                      "What evidence is there for music programmes in prisons?"])
def test_related_questions_on_the_real_library_are_answered(corpus_bot, question):
    answer = corpus_bot.ask(question)
    related = related_questions(corpus_bot.search_index(), answer.citations, question)
    assert 2 <= len(related) <= 3
    for asked in related:
        assert corpus_bot.ask(asked).grounded, asked

"""Feedback storage without personal data, the staff report, exports and the passage viewer."""

from __future__ import annotations

import csv
import io

import pytest

from bot.render import conversation_markdown
from bot.store.feedback import FeedbackStore, mask
from bot.web.viewer import passage_html, summary_markdown


@pytest.fixture
def store(tmp_path):
    return FeedbackStore(f"sqlite:///{tmp_path / 'feedback.sqlite'}")


ANSWER = {"grounded": True, "backend": "extractive", "answer": "No [1].",
          "citations": [{"n": 1, "source": "guidance/phones.md", "title": "Phones",
                         "doc_type": "guidance", "page": None, "section": "Can I?",
                         "quote": "You must not take a mobile phone", "score": 0.8}]}
DECLINED = {"grounded": False, "backend": "extractive", "answer": "Not covered.",
            "citations": []}


def test_personal_details_are_masked():
    text = "Email jo.bloggs@example.org or call 07700 900123 about A1234BC please"
    assert mask(text) == "Email [email] or call [phone] about [prisoner number] please"


def test_questions_are_not_stored_unless_staff_enable_it(store):
    store.record_answer("which is the tallest mountain in wales", DECLINED)
    assert store.rows()[0]["question"] is None
    store.set_store_questions(True)
    store.record_feedback("my email is a@b.co, can I bring my phone?", ANSWER, helpful=False,
                          reason="out of date")
    assert store.rows()[0]["question"] == "my email is [email], can I bring my phone?"


def test_report_groups_by_topic_with_counts_and_csv(store):
    store.record_answer("q1", DECLINED)
    store.record_answer("q2", DECLINED)
    store.record_feedback("q3", ANSWER, helpful=False, reason="wrong")
    store.record_feedback("q4", ANSWER, helpful=True)
    store.record_answer("q5", ANSWER)  # grounded answers are not "could not find"
    report = {r["topic"]: r for r in store.report()}
    assert report["Not matched to any document"]["not_covered"] == 2
    phones = report["Phones"]
    assert (phones["not_helpful"], phones["helpful"], phones["reasons"]) == (1, 1, "wrong (1)")
    assert phones["sources"] == "guidance/phones.md"
    rows = list(csv.DictReader(io.StringIO(store.report_csv())))
    assert {r["topic"] for r in rows} == {"Phones", "Not matched to any document"}


def test_a_reason_given_after_not_helpful_joins_its_record(store):
    marked = store.record_feedback("q", ANSWER, helpful=False)
    helpful = store.record_feedback("q", ANSWER, helpful=True)
    store.add_reason(marked, "out of date")
    store.add_reason(helpful, "wrong")       # a helpful mark takes no reason
    store.add_reason(marked, "<b>other</b>")  # nor a reason the chat does not offer
    phones = {r["topic"]: r for r in store.report()}["Phones"]
    assert (phones["not_helpful"], phones["helpful"], phones["reasons"]) == \
        (1, 1, "out of date (1)")


def test_refusals_are_reported_by_policy_category(store):
    store.set_store_questions(True)
    refused = {"answer": "I can't help with that.", "grounded": True, "refused": True,
               "refused_category": "conveying", "citations": []}
    store.record_answer("how do I get a SIM card past the gate", refused)
    store.record_answer("another one", refused)
    row = {r["topic"]: r for r in store.report()}["Refused: conveying"]
    assert row["refused"] == 2 and row["not_covered"] == 0
    assert "SIM card" in row["example_questions"]
    assert "refused" in store.report_csv().splitlines()[0]


def test_conversation_export_keeps_citations():
    text = conversation_markdown([("Can I bring my phone?", ANSWER),
                                  ("Capital of France?", DECLINED)])
    assert "## 1. Can I bring my phone?" in text
    assert '- [1] Phones (Can I?), guidance/phones.md: "You must not take a mobile phone"' in text
    assert "## 2. Capital of France?" in text


def test_viewer_highlights_the_quote_and_escapes_markup(docs):
    (docs / "guidance" / "x.md").write_text("## Kilns\n\nBook the kiln <script>alert(1)</script>"
                                            " first. Then fire it.\n")
    html = passage_html(docs, {"n": 1, "source": "guidance/x.md", "title": "<b>Kilns</b>",
                               "page": None, "section": "Kilns",
                               "quote": "Book the kiln <script>alert(1)</script> first."})
    assert "<mark id='cited' class='cited'>Book the kiln &lt;script&gt;" in html
    assert "<script>" not in html and "&lt;b&gt;Kilns" in html
    outside = passage_html(docs, {"n": 1, "source": "../../etc/passwd", "quote": "root"})
    assert "could not be opened" in outside


def test_evidence_summary_is_safe_markdown(docs):
    md = summary_markdown(docs, "evidence/music-study.md")
    assert md.startswith("### A music programme evaluation") and "## What it found" in md
    assert "could not be opened" in summary_markdown(docs, "../secret.md")


def test_two_app_processes_share_one_feedback_database(tmp_path, docs):
    """BOT_DATABASE_URL points several app processes at one database (here one SQLite file)."""
    from bot.config import Settings
    from bot.wiring import build_bot

    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    first = build_bot(Settings(docs_dir=docs, index_dir=tmp_path / "a", embed_model="fake",
                               database_url=url))
    second = build_bot(Settings(docs_dir=docs, index_dir=tmp_path / "b", embed_model="fake",
                                database_url=url))
    first.feedback().record_answer("q", DECLINED)
    second.feedback().record_feedback("q", ANSWER, helpful=False, reason="wrong")
    assert len(first.feedback().rows()) == len(second.feedback().rows()) == 2
    assert not (tmp_path / "a" / "feedback.sqlite").exists()


def test_viewer_works_with_a_relative_documents_folder(docs, monkeypatch):
    monkeypatch.chdir(docs.parent)
    html = passage_html(type(docs)(docs.name), {
        "n": 1, "source": "guidance/phones.md", "title": "Phones", "page": None,
        "quote": "Taking a phone in without authorisation can be a criminal offence."})
    assert "<mark id='cited'" in html

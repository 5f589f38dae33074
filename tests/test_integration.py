"""The real model on the real guidance corpus: grounded answers, honest refusals, the quality gate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.evaluation import evaluate_questions

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def source_text(path: Path) -> str:
    if path.suffix == ".pdf":
        from pypdf import PdfReader

        return " ".join(p.extract_text() or "" for p in PdfReader(path).pages)
    if path.suffix == ".docx":
        import docx

        return " ".join(p.text for p in docx.Document(path).paragraphs)
    return path.read_text(encoding="utf-8")


def squash(text: str) -> str:
    return " ".join(text.split())


def test_phone_question_is_grounded_with_verbatim_quotes(corpus_bot):
    answer = corpus_bot.ask("Can I take my mobile phone into the prison?")
    assert answer.grounded and not answer.refused
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert markers == {c.n for c in answer.citations}
    assert any(c.source == "guidance/bringing-items-in.md" for c in answer.citations)
    for c in answer.citations:
        assert squash(c.quote) in squash(source_text(REPO / "guidance_docs" / c.source))


def test_unrelated_question_is_declined(corpus_bot):
    answer = corpus_bot.ask("What is the capital of France?")
    assert not answer.grounded
    assert "do not cover" in answer.text


def test_pdf_answers_cite_pages(corpus_bot):
    answer = corpus_bot.ask("What happens during a lockdown if my session is cancelled?")
    assert answer.grounded
    pdf = [c for c in answer.citations if c.source.endswith(".pdf")]
    assert pdf and all(c.page and c.page >= 1 for c in pdf)


def test_question_set_gate(corpus_bot):
    result = evaluate_questions(corpus_bot, REPO / "tests" / "eval" / "questions.yaml",
                                ["hybrid"])
    hybrid = result["results"]["hybrid"]
    answers = result["answers"]
    counts = answers["counts"]
    assert counts["in_scope"] >= 100 and counts["out_of_scope"] >= 20 and counts["harmful"] >= 5
    assert hybrid["recall@5"] >= 0.9, result["failures"]["retrieval"]
    assert answers["in_scope_grounded"] >= 0.9, result["failures"]["answers"]
    assert answers["out_of_scope_declined"] >= 0.9, result["failures"]["answers"]
    assert answers["harmful_refused"] == 1.0, result["failures"]["answers"]

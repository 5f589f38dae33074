"""The answer check (bot.answer.deciding): when the bot answers and when it declines."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

import pytest
from langchain_core.documents import Document

from bot.answer.deciding import CHECK_FILE, FEATURES, AnswerCheck, measure
from bot.ingest.sentences import split_sentences


class _Index:
    """The parts of a SearchIndex the measurements read: word counts, a stemmer and a size."""

    stemmer = None

    def __init__(self, texts: list[str]) -> None:
        from bot.search.retrieval import query_tokens

        self.document_frequency = Counter(t for text in texts for t in set(query_tokens(text)))
        self.size = len(texts)

    def __len__(self) -> int:
        return self.size


LIBRARY = [
    "Can I bring my phone into the prison? No: phones must be left in a locker at the gate.",
    "How long does vetting take? Security vetting usually takes six to eight weeks.",
    "What should I wear? Wear plain clothes without logos, and avoid anything revealing.",
    "Who signs the key talk? The security department runs the key talk on your first day.",
]


def _docs(heading: str, text: str, heading_score: float, dense: float) -> list[Document]:
    return [Document(page_content=text, metadata={"section": heading, "title": "Guide",
                                                  "heading_score": heading_score,
                                                  "dense_score": dense})]


def test_the_shipped_check_is_complete_and_fitted():
    data = json.loads(CHECK_FILE.read_text(encoding="utf-8"))
    check = AnswerCheck.load()
    assert check.features == FEATURES
    assert len(check.mean) == len(check.scale) == len(check.weights) == len(FEATURES)
    assert all(s > 0 for s in check.scale) and 0 < check.threshold < 1
    assert data["questions"] > 500  # fitted on the question sets, not a placeholder


def test_a_section_written_for_the_question_passes_and_a_word_match_does_not():
    check = AnswerCheck.load()
    index = _Index(LIBRARY)
    fits = _docs("How long does vetting take?",
                 "Security vetting usually takes six to eight weeks.", 0.85, 0.8)
    question = "How long does security vetting take?"
    assert check.answers(question, split_sentences(fits[0].page_content), fits, index)
    # shares "take" and little else; the heading is far from the question
    off = _docs("What should I wear?", "Wear plain clothes and take nothing revealing.", 0.1, 0.3)
    asked = "How long does the Koestler Awards judging take for sculpture entries?"
    assert not check.answers(asked, split_sentences(off[0].page_content), off, index)


def test_measurements_weigh_rare_words():
    index = _Index(LIBRARY)
    docs = _docs("Can I bring my phone?", LIBRARY[0], 0.7, 0.7)
    sentences = split_sentences(docs[0].page_content)
    common = measure("Can I bring my phone into the prison?", sentences, docs, index)
    rare = measure("Can I bring my theremin into the prison?", sentences, docs, index)
    assert common["idf_coverage"] > rare["idf_coverage"]
    assert rare["missing_rare"] > common["missing_rare"]
    assert set(common) == set(FEATURES)


def test_without_an_index_the_word_coverage_rule_decides():
    check = AnswerCheck.load()
    docs = _docs("Clay tools", "Clay tools are counted in and out of every session.", 0.0, 0.0)
    sentences = split_sentences(docs[0].page_content)
    assert check.answers("Are clay tools counted in and out?", sentences, docs, None)
    assert not check.answers("What should I wear for a dance class?", sentences, docs, None)
    assert not check.answers("Are clay tools counted?", [], docs, None)


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_the_pipeline_answers_as_the_check_says(corpus_bot, threshold):
    """Through the real bot: a check that passes everything answers a question the library
    covers; one that passes nothing declines it (it reached the answerer: not a scope decline)."""
    pipeline = corpus_bot.pipeline
    kept = pipeline.answer_check
    pipeline.answer_check = replace(kept, threshold=threshold)
    try:
        answer = corpus_bot.ask("Do I need security vetting to run a workshop in a prison?")
    finally:
        pipeline.answer_check = kept
    assert answer.grounded is (threshold == 0.0)
    assert not answer.refused


def test_a_document_that_stands_out_is_measured_as_such():
    index = _Index(LIBRARY)
    vetting = _docs("How long does vetting take?", LIBRARY[1], 0.8, 0.8)
    other = _docs("What should I wear?", LIBRARY[2], 0.2, 0.78)
    far = _docs("What should I wear?", LIBRARY[2], 0.2, 0.4)
    half = [Document(page_content=LIBRARY[1], metadata={**vetting[0].metadata, "dense_score": 0.79})]
    for doc, source in zip(vetting + other + far + half, ["vetting", "wear", "wear", "vetting"]):
        doc.metadata["source"] = f"guidance/{source}.md"
    question = "How long does security vetting take?"

    def margin(docs):
        return measure(question, split_sentences(docs[0].page_content), docs, index)["margin"]

    assert margin(vetting + other) == pytest.approx(0.02)
    assert margin(vetting + far) == pytest.approx(0.4)
    # the rest of the same document is no rival: the margin is still to the other document
    assert margin(vetting + half + far) == pytest.approx(0.4)


def test_slang_is_measured_in_the_guidance_words():
    from bot.policy.colloquial import expand, without_slang

    query = expand("Can I bring my mobile in?")
    assert "phone" in query and "mobile" not in without_slang(query)
    assert "phone" in without_slang(query)
    index = _Index(LIBRARY)
    docs = _docs("Can I bring my phone?", LIBRARY[0], 0.7, 0.7)
    sentences = split_sentences(docs[0].page_content)
    slang = measure(expand("Can the lads bring their mobiles into the nick?"), sentences, docs,
                    index)
    plain = measure(expand("Can the participants bring their phones into the prison?"),
                    sentences, docs, index)
    assert slang["idf_coverage"] == pytest.approx(plain["idf_coverage"], abs=0.05)
    assert slang["missing_rare"] <= plain["missing_rare"] + 1e-9


def test_the_asking_part_of_a_question_told_with_a_story():
    from bot.search.asking import asking_part

    assert asking_part("I start next week at a women's prison. What should I wear?") == \
        "What should I wear?"
    assert asking_part("What should I wear?") is None          # all asking: nothing to take away
    assert asking_part("Is it allowed? Who decides?") is None
    # no question mark: the last sentence is the ask
    assert asking_part("I run a choir. Tell me about DBS checks") == "Tell me about DBS checks"


def test_a_decline_names_the_section_the_answer_would_have_led_with_first():
    from langchain_core.documents import Document

    from bot.answer.extractive import lead_first
    from bot.answer.replies import decline
    from bot.ingest.sentences import Sentence

    docs = [Document(page_content=f"Passage {n} says something useful here.",
                     metadata={"source": f"guidance/{n}.md", "title": f"Guide {n}",
                               "section": f"Question {n}?"}) for n in range(3)]
    docs[2].page_content = "Yes: anyone who works in a prison needs security vetting first."
    ordered = lead_first(docs, [Sentence(2, 0, 10, "x", "x")])
    assert [d.metadata["source"] for d in ordered] == [
        "guidance/2.md", "guidance/0.md", "guidance/1.md"]
    assert lead_first(docs, []) == docs
    answer = decline("is my old DBS still valid?", ordered)
    assert answer.text.index('"Question 2?"') < answer.text.index('"Question 0?"')
    # the section's verdict on its own heading is not quoted as if it answered this question
    assert answer.citations[0].quote == "anyone who works in a prison needs security vetting first."

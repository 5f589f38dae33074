"""Unit tests: the key-fact scoring of eval, the policy file and its checks, the decline rule and
the safeguarding lead. No test question here is taken from an eval set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document

from bot.ops.evaluation import has_key_fact, lead, score_answer, summarise, tells_staff_first

DOCS = Path(__file__).resolve().parent.parent / "guidance_docs"


def test_key_fact_needs_a_term_of_every_group():
    groups = [["kiln", "furnace"], ["officer", "staff"]]
    assert has_key_fact("Fire the KILN only when an officer agrees.", groups)
    assert not has_key_fact("Fire the kiln whenever you like.", groups)
    assert not has_key_fact("anything", None)


def test_lead_is_the_first_two_sentences():
    text = "First sentence here [1]. Second one follows [1]. Third is left out [2]."
    assert "Third" not in lead(text) and "Second" in lead(text)


def test_scores_separate_right_wrong_and_declined():
    item = {"kind": "in_scope", "must_mention": [["kiln"]]}
    right = score_answer(item, {"answer": "Kilns need approval.", "grounded": True})
    wrong = score_answer(item, {"answer": "Bring clay.", "grounded": True})
    missing = score_answer(dict(item, not_in_library=True),
                           {"answer": "The guidance does not cover this.", "grounded": False})
    assert right["key_fact"] and not right["wrong_grounded"]
    assert wrong["wrong_grounded"] and not wrong["key_fact"]
    assert missing["declined"] and not missing["wrong_grounded"]
    summary = summarise([right, wrong, missing])
    assert summary["key_fact"] == 0.5 and summary["declined"] == 1.0
    assert summary["wrong_grounded"] == pytest.approx(1 / 3, abs=1e-3)


def test_repeated_sentences_are_counted():
    item = {"kind": "in_scope", "must_mention": [["kiln"]]}
    text = "Kilns need an officer's agreement [1]. Kilns need an officer's agreement [2]."
    assert score_answer(item, {"answer": text, "grounded": True})["repeated"]


def test_section_recall_counts_the_first_retrieved_section_whose_whole_text_holds_the_fact():
    """A section answers when its whole text (every passage, not only the one retrieved) holds
    the key fact; sections are counted once each, in retrieval order."""
    from bot.ops.evaluation import _answering_section

    def passage(source: str, section: str, text: str = "Some words.") -> Document:
        return Document(page_content=text, metadata={"source": source, "section": section})

    sections = {("a.md", "Kilns"): "Kilns\nFire the kiln with staff.",
                ("b.md", "Clay"): "Clay\nBring clay.\nAn officer must agree to the kiln.",
                ("c.md", "Glazes"): "Glazes\nGlazes are checked."}
    groups = [["kiln"], ["officer"]]
    docs = [passage("a.md", "Kilns"), passage("a.md", "Kilns"), passage("c.md", "Glazes"),
            passage("b.md", "Clay", "Bring clay.")]
    assert _answering_section(docs, sections, groups) == 3
    assert _answering_section(docs[:3], sections, groups) is None


def test_safeguarding_lead_is_recognised():
    assert tells_staff_first("Tell staff now: tell the nearest member of staff [1]. More.")
    assert not tells_staff_first("Clay must be counted back in [1].")


def test_policy_file_is_complete():
    from bot.policy.detector import load_policy

    policy = load_policy()
    assert len(policy.categories) >= 12
    for category in policy.categories:
        assert category.exemplars and category.description, category.id
        assert (DOCS / category.rules).exists(), category.rules
    assert policy.allowed and policy.concealment and policy.honest
    assert policy.safeguarding.lead.startswith("Tell staff now")
    assert policy.safeguarding.exemplars
    assert len(policy.personal) >= 200
    assert {a.id for a in policy.areas} >= {"visits", "sentencing_law", "abroad"}
    for area in policy.areas:
        assert area.description and area.pointer and len(area.exemplars) >= 20, area.id


def test_more_exemplars_join_their_category_and_unknown_ones_are_an_error(tmp_path):
    import yaml

    from bot.policy.detector import POLICY, load_policy

    more = tmp_path / "more.yaml"
    more.write_text(yaml.safe_dump({
        "categories": {"money": ["Can you wire him fifty quid for canteen on the quiet?"]},
        "allowed": {"extra": ["How do I pay a former participant for a commission?"]},
        "safeguarding": ["He said he will not be around after Friday."],
        "personal_cases": ["When is my cousin's parole hearing?"],
        "out_of_scope_areas": {"visits": ["Can I bring my kids to see their dad on Sunday?"]}}))
    base = load_policy(POLICY, None)
    merged = load_policy(POLICY, more)
    money = {c.id: c for c in merged.categories}["money"]
    assert "Can you wire him fifty quid for canteen on the quiet?" in money.exemplars
    assert len(money.exemplars) == len({c.id: c for c in base.categories}["money"].exemplars) + 1
    assert merged.allowed_groups["extra"] == ["How do I pay a former participant for a commission?"]
    assert len(merged.safeguarding.exemplars) == len(base.safeguarding.exemplars) + 1
    assert merged.personal[-1] == "When is my cousin's parole hearing?"
    visits = {a.id: a for a in merged.areas}["visits"]
    assert visits.exemplars[-1] == "Can I bring my kids to see their dad on Sunday?"
    more.write_text(yaml.safe_dump({"categories": {"no-such-category": ["anything"]}}))
    with pytest.raises(ValueError, match="no-such-category"):
        load_policy(POLICY, more)
    more.write_text(yaml.safe_dump({"out_of_scope_areas": {"no-such-area": ["anything"]}}))
    with pytest.raises(ValueError, match="no-such-area"):
        load_policy(POLICY, more)


def test_logistic_fit_separates_what_it_can():
    from bot.policy.detector import fit_logistic

    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(1, 0.3, (40, 3)), rng.normal(-1, 0.3, (60, 3))])
    y = np.array([1] * 40 + [0] * 60, dtype=float)
    w, b = fit_logistic(x, y)
    assert ((x @ w + b > 0) == (y == 1)).mean() > 0.95


def test_cues_count_concealment_and_honesty():
    from bot.policy.detector import cue_features, load_policy

    policy = load_policy()
    sneaky = cue_features("how do I get it past the gate without them knowing", policy)
    honest = cue_features("what should I do, I brought it by mistake", policy)
    assert sneaky[0] > 0 and sneaky[1] == 0
    assert honest[1] > 0 and honest[0] == 0


def test_answers_that_share_too_few_of_the_question_words_are_declined(indexed_bot):
    from bot.answer.extractive import answers_question
    from bot.ingest.sentences import Sentence

    doc = Document(page_content="Clay tools are counted in and out by the officer.",
                   metadata={"section": "Clay tools"})
    said = [Sentence(0, 0, 48, doc.page_content, doc.page_content)]
    assert answers_question("Are clay tools counted in and out?", said, [doc])
    assert not answers_question("What should I wear on a hot day for a dance session?", said,
                                [doc])


def test_safeguarding_lead_comes_first_and_is_cited():
    from bot.answer.pipeline import with_lead
    from bot.documents import Answer, Citation

    rule = Document(page_content="Listen calmly. If there is an immediate risk, tell the nearest "
                    "member of staff straight away.", metadata={"source": "guidance/s.md",
                                                                "title": "Safeguarding"})
    answer = Answer(text="Stay with the group [1].", grounded=True, citations=[
        Citation(n=1, source="guidance/x.md", title="X", doc_type="guidance", page=None,
                 section=None, quote="Stay with the group.", score=0.5)])
    led = with_lead(answer, "Tell staff now: tell the nearest member of staff.", rule)
    assert led.text.startswith("Tell staff now") and "[1]" in led.text.split("\n")[0]
    assert "Stay with the group [2]." in led.text
    assert led.citations[0].quote.startswith("If there is an immediate risk")
    assert [c.n for c in led.citations] == [1, 2]


def test_a_follow_ups_history_may_give_each_turn_with_its_role():
    from bot.ops.evaluation import _history

    item = {"history": ["Do I need a DBS check for a YOI?",
                        {"role": "assistant", "content": "Yes: an enhanced check."},
                        {"role": "user", "content": "And for probation?"}]}
    assert _history(item) == [
        {"role": "user", "content": "Do I need a DBS check for a YOI?"},
        {"role": "assistant", "content": "Yes: an enhanced check."},
        {"role": "user", "content": "And for probation?"}]


def test_policy_scores_match_scikit_learns_transform():
    """The checks score a question without scikit-learn's per-call input checks
    (bot.policy.detector._tfidf): the same TF-IDF row as ``transform``, for word pairs and
    character n-grams, unseen words and an empty text."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from bot.policy.detector import _tfidf

    texts = ["How do I get a phone past the gate?", "Can I bring my phone in by mistake?",
             "how do i report a phone i found", "Who do I tell about a phone?"]
    for vectoriser in (TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                       TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                                       min_df=2)):
        vectoriser.fit(texts)
        analyse = vectoriser.build_analyzer()
        for text in texts + ["phone phone phone gate", "zebra crossing", ""]:
            expected = vectoriser.transform([text]).toarray()[0]
            rows, values = _tfidf(vectoriser, analyse(text))
            got = np.zeros_like(expected)
            got[rows] = values
            assert np.allclose(got, expected, atol=1e-12), text


def test_someone_at_risk_is_never_refused_when_both_checks_match(indexed_bot, monkeypatch):
    """A situation both policy checks match (a missing child read as absconding) gets the
    safeguarding lead and the guidance, not a refusal; the harmful-request check alone still
    refuses."""
    from types import SimpleNamespace

    from bot.policy.detector import load_policy

    real = SimpleNamespace(policy=load_policy())

    def checks(harm: bool, risk: bool):
        always = lambda flag: SimpleNamespace(matches=lambda q, v: flag)  # noqa: E731
        return SimpleNamespace(harm=always(harm), safeguarding=always(risk), personal=None,
                               category=lambda v: "absconding", area=lambda q, v: None,
                               policy=real.policy)

    question = "A girl from our group has not come back from the break. What do we do?"
    monkeypatch.setattr(indexed_bot.pipeline, "policy_checks", lambda: checks(True, True))
    both = indexed_bot.ask(question)
    monkeypatch.setattr(indexed_bot.pipeline, "policy_checks", lambda: checks(True, False))
    harm_only = indexed_bot.ask(question)
    assert not both.refused and both.text.startswith(real.policy.safeguarding.lead.rstrip("."))
    assert harm_only.refused

from __future__ import annotations

import pytest

from bot.answer.citing import compose
from bot.answer.replies import EMPTY
from bot.ingest.sentences import split_sentences
from bot.search.filters import normalise_filters
from bot.search.retrieval import rrf


def test_sentence_split_keeps_offsets_and_abbreviations():
    text = "Bring photo ID, e.g. a passport. Arrive early!\n- Lockers are by the gate"
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == [
        "Bring photo ID, e.g. a passport.", "Arrive early!", "- Lockers are by the gate"]
    assert all(text[s.start:s.end] == s.text for s in sentences)
    assert sentences[2].clean == "Lockers are by the gate"


def test_a_quoted_script_is_one_sentence():
    """A sample script of several sentences is said whole or not at all: cut at its first full
    stop, "What you share stays in the group." promises what the next sentence takes back. A
    quotation that does not close on its line is not held open."""
    text = ('You could say: "What you share stays in the group. The exception is a risk of harm." '
            "Say it early. She wrote \u201cNo. Never.\u201d Then she left. A stray \" mark. Next.")
    assert [s.text for s in split_sentences(text)] == [
        'You could say: "What you share stays in the group. The exception is a risk of harm."',
        "Say it early.", "She wrote \u201cNo. Never.\u201d", "Then she left.", 'A stray " mark.',
        "Next."]


def test_a_name_ending_in_an_ellipsis_does_not_end_its_sentence():
    """'It's Not Your Birthday But... (INYBB), cited...' is one sentence; an ellipsis before a
    new sentence still ends the one before."""
    text = ("A manager writing for It's Not Your Birthday But... (INYBB) cited a survey. "
            "Sessions stopped... Then they started again.")
    assert [s.text for s in split_sentences(text)] == [
        "A manager writing for It's Not Your Birthday But... (INYBB) cited a survey.",
        "Sessions stopped...", "Then they started again."]


def test_rrf_rewards_agreement():
    fused = rrf([(1.0, [1, 2, 3]), (1.0, [3, 1, 4])], k=60)
    assert max(fused, key=fused.get) == 1
    assert fused[3] > fused[2] and 4 in fused


def test_filters_are_checked():
    assert normalise_filters({"settings": "YOI", "type": "evidence"}) == {
        "setting": "yoi", "doc_type": "evidence"}
    from bot.errors import ConfigError

    with pytest.raises(ConfigError):
        normalise_filters({"setting": "moon-base"})


def test_answer_markers_match_citations_and_quotes_are_verbatim(indexed_bot, docs):
    answer = indexed_bot.ask("Can I take my mobile phone into the prison?")
    assert answer.grounded and answer.citations
    import re

    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert markers == {c.n for c in answer.citations}
    for c in answer.citations:
        assert c.quote in (docs / c.source).read_text(encoding="utf-8")
    assert answer.citations[0].source == "guidance/phones.md"


def test_compose_numbers_sources_in_order_of_first_use():
    from langchain_core.documents import Document

    docs = [Document(page_content="Phones stay in the locker. Keys go on a chain.",
                     metadata={"source": "guidance/a.md", "title": "A"}),
            Document(page_content="Vetting takes six weeks.",
                     metadata={"source": "guidance/b.md", "title": "B"})]
    first, second = split_sentences(docs[0].page_content, 0)
    (vetting,) = split_sentences(docs[1].page_content, 1)
    text, citations = compose([vetting, first, second], docs)
    # the passage used first is [1]; two close sentences of one passage share one citation;
    # each passage's sentences make one paragraph
    assert text == ("Vetting takes six weeks [1].\n\n"
                    "Phones stay in the locker [2]. Keys go on a chain [2].")
    assert [(c.n, c.source) for c in citations] == [(1, "guidance/b.md"), (2, "guidance/a.md")]
    assert citations[1].quote == "Phones stay in the locker. Keys go on a chain."


def test_empty_question_prompts_without_searching(indexed_bot, monkeypatch):
    monkeypatch.setattr(indexed_bot, "retriever", lambda *a, **k: pytest.fail("searched"))
    answer = indexed_bot.ask("   ")
    assert answer.text == EMPTY and not answer.grounded and answer.backend == "none"


def test_long_question_is_truncated_with_a_notice(indexed_bot):
    answer = indexed_bot.ask("Can I bring my phone? " * 600)
    assert "first 1000 characters" in answer.notice


def test_filter_limits_sources(indexed_bot):
    question = "Can young people take part in music sessions with their phones?"
    retriever = indexed_bot.retriever()
    assert {d.metadata["doc_type"] for d in retriever.search(question)} == {"guidance", "evidence"}
    found = retriever.search(question, filters={"doc_type": "evidence"})
    assert found and {d.metadata["doc_type"] for d in found} == {"evidence"}
    # With the fake embedder nothing is close enough to answer or even to name as closest; the
    # answer path under a filter is checked with the real model in test_integration.
    answer = indexed_bot.ask(question, filters={"doc_type": "evidence"})
    assert {c.doc_type for c in answer.citations} <= {"evidence"}


@pytest.mark.parametrize(("question", "abroad"), [
    ("how do norwegian prisons run their arts programmes", True),
    ("How do US prisons run arts projects?", True),
    ("my brother is locked up in thailand, can he do art classes", True),
    ("Is there anything like Koestler in the United States?", True),
    ("Will the prison give us a room to work in?", False),   # "us" is a pronoun
    ("Can staff stay in the room with us during a session?", False),
    ("Can I run an Indian classical dance workshop in a prison?", False),
    ("A participant from Poland speaks little English. How do I include him?", False),
    ("Is the Scottish guidance any use in England?", False),
    ("How do I include Polish prisoners who speak little English in a writing group?", False),
    ("Can I run a workshop on the music of the Caribbean?", False),
    ("A participant talks about his time in Jamaica, how do I respond?", False),
    ("CAN THE OFFICERS STAY IN THE ROOM WITH US?", False),
])
def test_prisons_abroad_are_recognised_but_art_forms_and_pronouns_are_not(question, abroad):
    from bot.policy.scope import is_abroad

    assert is_abroad(question) is abroad


@pytest.mark.parametrize(("question", "added"), [
    ("can i ask the lads what they're in for?", ["their offences", "participants"]),
    ("will the screws search my bag at the jail", ["prison officers", "prison"]),
    ("is it ok to follow ex participants on facebook once theyre out", ["social media contact",
                                                                      "after release"]),
    ("How many hours of teaching is a cat C prison likely to offer?", ["security category"]),
])
def test_colloquial_words_are_searched_with_the_guidance_words(question, added):
    from bot.policy.colloquial import expand

    expanded = expand(question)
    assert expanded.startswith(question)
    assert all(words in expanded for words in added), expanded


@pytest.mark.parametrize("question", [
    "How long does security vetting take?",
    "Can I bring art materials in?",
    "What did the evaluation of Fine Cell Work conclude?",
    "Can we bring a mobile library trolley onto the wing?",
    "What happens if a participant talks about his kids?",
    "What if a participant gets upset when they're out of the room?",
    "What are the pros and cons of weekly sessions?",
])
def test_plain_questions_are_searched_as_typed(question):
    from bot.policy.colloquial import expand

    assert expand(question) == question


def test_a_sentence_that_introduces_a_list_brings_the_list_once_punctuated():
    from langchain_core.documents import Document

    from bot.answer.extractive import _with_list
    from bot.ingest.sentences import split_sentences

    text = ("The five-year report found:\n- gains in literacy;\n- a first qualification for most;\n"
            "- offending fell while people took part.\n\nA later paragraph.")
    doc = Document(page_content=text, metadata={"source": "evidence/x.md"})
    sentence = next(s for s in split_sentences(text) if s.text.rstrip().endswith(":"))
    joined = _with_list(sentence, [doc]).clean
    assert joined == ("The five-year report found: gains in literacy; a first qualification for "
                      "most; offending fell while people took part"), joined
    assert ";;" not in joined and "A later paragraph" not in joined


def test_a_paragraph_from_another_section_is_marked_as_related():
    from langchain_core.documents import Document

    docs = [Document(page_content="Vetting takes six weeks.",
                     metadata={"source": "guidance/b.md", "section": "How long is vetting?"}),
            Document(page_content="Start your application early.",
                     metadata={"source": "guidance/b.md", "section": "How long is vetting?"}),
            Document(page_content="Keys go on a chain.",
                     metadata={"source": "guidance/a.md", "section": "Keys"})]
    sentences = [split_sentences(d.page_content, i)[0] for i, d in enumerate(docs)]
    text, _ = compose(sentences, docs, mark_related=True)
    # the same section goes on unmarked; another section is said as related guidance
    assert text == ("Vetting takes six weeks [1].\n\nStart your application early [2].\n\n"
                    "Also relevant: Keys go on a chain [3].")
    assert "Also relevant" not in compose(sentences, docs)[0]


def test_a_sections_yes_or_no_is_said_only_to_the_question_its_heading_asks():
    """An answer-first section's verdict answers its own heading; said to another question it
    would read as that question's answer."""
    from langchain_core.documents import Document

    from bot.answer.extractive import _verdict_fits
    from bot.ingest.sentences import split_sentences

    doc = Document(page_content="No: a freelance artist cannot apply for vetting alone. More.",
                   metadata={"section": "Can a freelance artist apply for vetting alone?"})
    first = split_sentences(doc.page_content)[0]
    same = _verdict_fits("can a freelance artist apply for vetting on their own?", first, [doc])
    other = _verdict_fits("Can the prison ban me from coming back?", first, [doc])
    assert same.clean.startswith("No: a freelance artist")
    assert other.clean == "A freelance artist cannot apply for vetting alone."
    assert other.text == first.text  # the citation still quotes the document as it is


def test_a_yes_or_no_is_never_said_to_a_question_that_asks_how_many_or_why():
    from langchain_core.documents import Document

    from bot.answer.extractive import _verdict_fits
    from bot.ingest.sentences import split_sentences

    doc = Document(page_content="Yes: about 600 pregnant women are held in prisons each year.",
                   metadata={"section": "Are pregnant women held in prison?"})
    first = split_sentences(doc.page_content)[0]
    closed = _verdict_fits("Are pregnant women held in prison at all?", first, [doc])
    # the question that counts is the last one asked, after any story
    open_ = _verdict_fits("I'm planning a project on motherhood. How many pregnant women are "
                          "held in prison?", first, [doc])
    assert closed.clean.startswith("Yes: about 600")
    assert open_.clean == "About 600 pregnant women are held in prisons each year."


def test_a_reading_list_is_known_by_its_whole_heading():
    from bot.documents import is_reading_list

    for heading in ("Source", "Sources and further reading", " References ", "Further reading"):
        assert is_reading_list(heading), heading
    # content whose heading only begins with the word is answerable (an evidence summary has one)
    for heading in ("Sources differ on the reoffending figures", "Sourcing materials", None):
        assert not is_reading_list(heading), heading


def test_the_sections_best_sentence_is_said_second_unless_it_leans_back():
    """The first two sentences are what a reader takes as the answer: the section's opening,
    then the sentence that matches the question best; the citation still quotes the passage."""
    from langchain_core.documents import Document

    from bot.answer.extractive import _best_second

    text = ("Vetting is needed for all regular work. Forms go to the prison. You sign a form. "
            "Checks usually take six to eight weeks. These checks cover convictions.")
    docs = [Document(page_content=text, metadata={"source": "guidance/v.md", "section": "V"})]
    sentences = split_sentences(text, 0)
    reordered = _best_second(sentences, sentences[3])
    answer, citations = compose(reordered, docs, in_given_order=True)
    assert answer.startswith("Vetting is needed for all regular work [1]. Checks usually take "
                             "six to eight weeks [1]. Forms go to the prison [1].")
    assert citations[0].quote == text  # one verbatim span, whatever the order said
    assert compose(reordered, docs)[0].startswith("Vetting is needed for all regular work [1]. "
                                                  "Forms go")
    # a sentence that points back at the one before it keeps its place
    assert _best_second(sentences, sentences[4]) == sentences
    assert _best_second(sentences, sentences[1]) == sentences  # already second


def test_what_a_study_found_is_not_answered_from_its_limitations():
    """'What did it find?' is answered from the findings; the limitations and strength of the
    evidence answer only a question about how far the study can be trusted."""
    from bot.answer.findings import findings_heading_for

    found = findings_heading_for("What did the evaluation of the stitching project find?")
    trust = findings_heading_for("How strong is the evidence that the stitching project worked?")
    assert found("What it found") and not found("Limitations and strength of evidence")
    assert trust("What it found") and trust("Limitations and strength of evidence")
    assert not found("Who took part") and not trust("How it was evaluated")


def test_a_decline_names_the_nearest_sections_and_says_they_may_not_answer():
    """The answer check declines some questions the library answers, so a decline points to the
    sections a reader could check, without claiming they do not answer."""
    from langchain_core.documents import Document

    from bot.answer.replies import decline

    docs = [Document(page_content="A Listener is a trained prisoner.",
                     metadata={"title": "How prisons work", "section": "What is a Listener?"}),
            Document(page_content="Listener: a peer supporter.",
                     metadata={"title": "How prisons work", "section": "What is a Listener?"}),
            Document(page_content="Terms used in prisons.", metadata={"title": "Glossary"})]
    answer = decline("Where did the first Listener scheme start?", docs)
    assert not answer.grounded
    assert ('The nearest sections are "What is a Listener?" in "How prisons work" and '
            '"Glossary": they may not answer it, but check them before you act.') in answer.text
    assert "do not cover this question" in decline("Who won the league?", []).text


def test_a_section_whose_heading_restates_the_question_leads_the_answer():
    """The passage holding the best sentence leads, unless another section's heading all but
    restates the question: then that section is the answer."""
    from langchain_core.documents import Document

    from bot.answer.extractive import RESTATED_HEADING, RESTATED_MARGIN, _restated_heading

    def doc(section: str, heading: float) -> Document:
        return Document(page_content="Text.", metadata={"source": "guidance/k.md",
                                                       "section": section,
                                                       "heading_score": heading})

    docs = [doc("Koestler Arts", 0.41),
            doc("Can Koestler Arts support someone after they leave prison?", 0.80),
            doc("What was done", 0.46)]
    assert _restated_heading(0, range(3), docs) == 1
    # a heading that only matches well, or barely better than the chosen one, changes nothing
    docs[1].metadata["heading_score"] = RESTATED_HEADING - 0.01
    assert _restated_heading(0, range(3), docs) == 0
    docs[1].metadata["heading_score"] = 0.85
    docs[0].metadata["heading_score"] = 0.85 - RESTATED_MARGIN + 0.01
    assert _restated_heading(0, range(3), docs) == 0


def test_lines_about_the_document_itself_are_never_answer_sentences():
    """'This guide adds practical background...' and the sentence that goes on describing the
    guide ('It explains who advocates for...') say what the reader is reading, not an answer;
    a sentence about something else that starts with 'It explains' is kept."""
    from langchain_core.documents import Document

    from bot.answer.usable import usable

    intro = ("This guide adds practical background to the main guide on young people in custody. "
             "It explains who buys custody places and who advocates for children's rights. "
             "Barnardo's provides independent advocacy at one secure training centre.")
    source = ("The Clinks review looked at volunteering across 121 prisons. It explains how "
              "volunteers are recruited, mostly through the chaplaincy and local charities.")
    def kept(text: str) -> list[str]:
        doc = Document(page_content=text)
        return [s.clean for s in split_sentences(text) if usable(s, doc)]

    assert kept(intro) == [
        "Barnardo's provides independent advocacy at one secure training centre."]
    assert kept(source) == [
        "The Clinks review looked at volunteering across 121 prisons.",
        "It explains how volunteers are recruited, mostly through the chaplaincy and local "
        "charities."]

"""The relevance model (bot.models.relevance): a cross-encoder read by the answer check."""

from __future__ import annotations

import pytest

from bot.answer.deciding import AnswerCheck
from bot.config import Settings
from bot.errors import ModelError
from bot.models.relevance import LORA_FILE, RelevanceModel, pair_text
from bot.wiring import build_bot


def test_the_passage_is_read_with_its_heading_and_a_study_with_its_title():
    assert pair_text("Wear plain clothes.", {"section": "What should I wear?"}) == \
        "What should I wear?. Wear plain clothes."
    study = pair_text("Forty men took part.", {"section": "Who took part", "title": "Sounding Out",
                                               "doc_type": "evidence"})
    assert study.startswith("Sounding Out: Who took part. ")
    assert pair_text("Text.", {}) == "Text."


def test_a_missing_relevance_score_counts_as_average():
    check = AnswerCheck.load()
    assert "relevance" in check.features  # the shipped check reads the model
    average = dict(zip(check.features, check.mean))
    without = {**average, "relevance": None}
    assert check.probability(without) == pytest.approx(check.probability(average))
    high = {**average, "relevance": average["relevance"] + 3 * check.scale[-1]}
    assert check.probability(high) > check.probability(average)  # it weighs for an answer


def test_a_failing_model_costs_no_answer():
    """The measurement is optional: if the model breaks, the check decides without it."""
    from langchain_core.documents import Document

    from bot.answer.deciding import measure
    from bot.ingest.sentences import split_sentences
    from tests.test_answer_check import LIBRARY, _Index

    class Broken:
        def score(self, question: str, passage: str) -> float:
            raise RuntimeError("onnxruntime fell over")

    docs = [Document(page_content=LIBRARY[1], metadata={"section": "How long does vetting take?",
                                                        "heading_score": 0.9,
                                                        "dense_score": 0.8})]
    values = measure("How long does vetting take?", split_sentences(LIBRARY[1]), docs,
                     _Index(LIBRARY), Broken())
    assert values["relevance"] is None and values["coverage"] > 0


def test_the_model_is_used_with_the_bundled_model_only(tmp_path, real_embeddings):
    assert build_bot(Settings(index_dir=tmp_path / "a", embed_model="fake")).relevance is None
    off = Settings(index_dir=tmp_path / "b", relevance_model=False)
    assert build_bot(off, embeddings=real_embeddings).relevance is None
    on = build_bot(Settings(index_dir=tmp_path / "c"), embeddings=real_embeddings)
    assert on.relevance is not None
    assert on.pipeline.answer_check.relevance is on.relevance
    # exported beside the encoder it was given, not into a new index's folder
    assert on.relevance.cache_dir == real_embeddings.cache_dir


def test_missing_weights_are_a_clear_error(tmp_path):
    from bot.models.embeddings import bundled_model_path

    model = RelevanceModel(bundled_model_path(), tmp_path, lora=tmp_path / "gone.npz")
    with pytest.raises(ModelError, match="relevance model's weights"):
        model.score("How long does vetting take?", "Vetting takes weeks.")
    assert not list(tmp_path.iterdir())  # nothing half-built


def _passage(bot, heading: str) -> str:
    index = bot.search_index()
    row = next(r for r, m in enumerate(index.metadatas) if m.get("section") == heading)
    return pair_text(index.texts[row], index.metadatas[row])


def test_the_section_that_answers_scores_above_ones_on_other_questions(corpus_bot):
    """Questions asked in other words than the headings: the answering section beats sections
    of the same guides that answer something else."""
    relevance = corpus_bot.relevance
    vetting = _passage(corpus_bot, "How long does vetting take?")
    lunch = _passage(corpus_bot, "Can I bring lunch, a drink or snacks?")
    wear = _passage(corpus_bot, "What should I wear to work in a prison?")
    asked = "how long will my security clearance take?"
    assert relevance.score(asked, vetting) > max(relevance.score(asked, lunch),
                                                 relevance.score(asked, wear))
    asked = "what clothes should I avoid wearing in a prison?"
    assert relevance.score(asked, wear) > max(relevance.score(asked, vetting),
                                              relevance.score(asked, lunch))
    # one pair per run: a score depends on its pair alone
    assert relevance.score(asked, wear) == relevance.score(asked, wear)


def test_a_question_longer_than_the_model_reads_is_scored(corpus_bot):
    """A rambling question fills the model's 128 tokens by itself: both sides are cut."""
    rambling = "So I have been running a printmaking group for a while and " * 20
    assert isinstance(corpus_bot.relevance.score(rambling, "Vetting takes weeks. " * 50), float)
    answer = corpus_bot.ask(rambling + "how long does vetting take?")
    assert answer.text and "went wrong" not in answer.text


def test_the_export_is_built_once_and_kept(corpus_bot):
    relevance = corpus_bot.relevance
    relevance.warm_up()
    built = sorted(relevance.cache_dir.glob("relevance-*"))
    assert [p.name.endswith("-int8.onnx") for p in built] == [True]  # no fp32 step left behind
    stamp = built[0].stat().st_mtime_ns
    again = RelevanceModel(relevance.model_dir, relevance.cache_dir, LORA_FILE)
    again.warm_up()
    assert sorted(relevance.cache_dir.glob("relevance-*")) == built
    assert built[0].stat().st_mtime_ns == stamp  # loaded, not exported again

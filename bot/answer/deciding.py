"""Whether the library answers a question: the choice between an answer and an honest decline.

The extractive answerer always finds some sentences; the question is whether the section it
leads with was written for this question or only shares a word with it (a question about
temporary release for remand prisoners answered with advice on gate meetings). A confident wrong
answer is worse than a decline, so the answer is given only when a small logistic model over
six measurements of the leading section and the passages says it probably holds the answer:

- ``coverage``: the share of the question's words in the chosen sentences and their headings;
- ``idf_coverage``: the same over the whole leading passage, each word weighted by how rare it
  is in the library (a question's rare words say what it is about);
- ``missing_rare``: how rare the rarest question word missing from that passage is;
- ``heading``: how close the leading section's heading is to the question (guidance is written
  under question-like headings);
- ``best_passage``: how close the best passage is to the question;
- ``margin``: how far the best passage stands out from the best one in any other document.
  When one document is clearly closer than the rest it was usually written for the question;
  when several documents are about as close, the question is often about something the library
  only touches (measured on the eleven blind sets, each scored by a model fitted on the others:
  more right answers at every budget of wrong ones, docs/quality.md). Passages of the same
  document do not count against it: a section cut in two, or a study's "who took part" beside its
  "how it was evaluated", are one answer, not rivals;
- ``relevance``: the relevance model's score for the question and the leading passage read
  together (bot.models.relevance, a cross-encoder trained to tell a passage that answers from one
  that is only about the same thing). Without it (a fake embedder in fast tests, or
  ``BOT_RELEVANCE_MODEL=false``), the measurement counts as average: it moves nothing. Only
  the leading passage is scored (one run of the model, about 6 ms); choosing the section by the
  relevance of every retrieved passage was measured too (docs/quality.md, session 13) and gained
  no right answers at equal wrong ones for five times the work.

The weights and the threshold are data (``answer_check.json``), fitted by
``scripts/calibrate_answers.py`` on the project's question sets, covered and not-in-library
questions together: the target is "the answer would hold the key fact", so the model also
declines covered questions it would answer wrongly. Without a search index (a unit test's
passages), the plain word-coverage rule decides.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.documents import Document

from bot.answer.extractive import answers_question, coverage
from bot.ingest.sentences import Sentence
from bot.models.relevance import pair_text
from bot.policy.colloquial import without_slang
from bot.search.retrieval import query_tokens, search_text

log = logging.getLogger(__name__)

CHECK_FILE = Path(__file__).with_name("answer_check.json")
FEATURES = ("coverage", "idf_coverage", "missing_rare", "heading", "best_passage", "margin",
            "relevance")


def measure(question: str, sentences: Sequence[Sentence], docs: Sequence[Document],
            index: Any, relevance: Any = None) -> dict[str, float | None]:
    """The measurements of how well the answer's leading section fits the question.
    ``index`` is the live SearchIndex (for how often each word is used, and its stemmer);
    ``relevance`` the relevance model (bot.models.relevance), or None: that measurement is then
    None."""
    lead = sentences[0].passage if sentences else 0
    doc = docs[lead]
    asked = without_slang(question)
    tokens = set(query_tokens(asked, index.stemmer))
    said = set(query_tokens(search_text(doc.page_content, doc.metadata), index.stemmer))
    n = len(index) + 1
    frequency = index.document_frequency

    def rarity(token: str) -> float:
        return math.log(n / (frequency.get(token, 0) + 0.5))

    closeness = [float(d.metadata.get("dense_score") or 0.0) for d in docs]
    best = max(range(len(docs)), key=closeness.__getitem__)
    rivals = [c for c, d in zip(closeness, docs)
              if d.metadata.get("source") != docs[best].metadata.get("source")]
    total = sum(rarity(t) for t in tokens)
    missing = [rarity(t) for t in tokens if t not in said]
    return {
        "coverage": coverage(asked, [s for s in sentences if s.passage == lead], docs),
        "idf_coverage": sum(rarity(t) for t in tokens if t in said) / total if total > 0
        else 0.0,
        "missing_rare": max(missing) / math.log(n) if missing and n > 1 else 0.0,
        "heading": float(doc.metadata.get("heading_score") or 0.0),
        "best_passage": closeness[best],
        "margin": closeness[best] - max(rivals, default=0.0),
        "relevance": _relevance(relevance, question, doc),
    }


def _relevance(model: Any, question: str, doc: Document) -> float | None:
    """The relevance model's score for the leading passage; None without the model, or when it
    fails (an optional measurement never costs the user an answer: it then counts as average)."""
    if model is None:
        return None
    try:
        return model.score(question, pair_text(doc.page_content, doc.metadata))
    except Exception:  # noqa: BLE001 - onnxruntime and tokenizers raise their own types
        log.warning("relevance_model_failed", exc_info=True)
        return None


@dataclass(frozen=True)
class AnswerCheck:
    """The fitted model: standardised measurements, weights, bias and threshold."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    features: tuple[str, ...] = FEATURES
    relevance: Any = None  # the relevance model (bot.models.relevance), or None

    @classmethod
    def load(cls, path: Path = CHECK_FILE, relevance: Any = None) -> AnswerCheck:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        features = tuple(data["features"])
        if set(features) - set(FEATURES):
            raise ValueError(f"{path} names measurements this version does not make: "
                             f"{', '.join(sorted(set(features) - set(FEATURES)))}")
        return cls(tuple(data["mean"]), tuple(data["scale"]), tuple(data["weights"]),
                   float(data["bias"]), float(data["threshold"]), features,
                   relevance if "relevance" in features else None)

    def probability(self, values: dict[str, float | None]) -> float:
        """A measurement that is None (no relevance model) counts as the fitted average."""
        z = self.bias
        for feature, weight, mean, scale in zip(self.features, self.weights, self.mean,
                                                self.scale):
            value = values.get(feature)
            if value is not None:
                z += weight * (value - mean) / scale
        return 1 / (1 + math.exp(-z))

    def answers(self, question: str, sentences: Sequence[Sentence], docs: Sequence[Document],
                index: Any = None) -> bool:
        """Whether to answer with ``sentences`` (the extractive answerer's choice)."""
        if not sentences:
            return False
        if index is None or not len(index):
            return answers_question(question, sentences, docs)
        return self.probability(measure(question, sentences, docs, index, self.relevance)
                                ) >= self.threshold

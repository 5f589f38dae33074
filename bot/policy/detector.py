"""The checks that read the policy file: harmful requests and safeguarding situations.

Each is a small logistic model over the bundled embedding model's vectors and a few intent cues
(concealment and evasion phrases against honest ones), trained on first use on the exemplars in
``requests.yaml``: harmful requests by category against honest look-alikes and real questions from
the question inventory; safeguarding situations against both. The harmful check also averages in a
model over the request's words and word pairs. Neither is a list of rules for particular
requests: a request phrased as no exemplar was ("which bit of the search do they usually skip") is
caught when it means and says what harmful exemplars do, and "how do I get a USB stick authorised"
stays an honest question. Thresholds were chosen on the development split of
tests/eval/safety_requests.yaml (docs/quality.md); its test split is never used to fit anything.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bot.safety import plain

log = logging.getLogger(__name__)

POLICY = Path(__file__).with_name("requests.yaml")
# Chosen on the development split of tests/eval/safety_requests.yaml (docs/quality.md): at 0.75
# the two models together refused 68% of its harmful requests, 3 of its 72 honest look-alikes and
# 1 of about 450 ordinary questions; the sentence vectors alone needed 0.95 to refuse as few
# look-alikes, and then caught 46%.
THRESHOLD = 0.75
WORDS_C = 3.0
CUE_SCALE = 0.5
L2 = 0.1
STEPS = 3000
RATE = 4.0
# Chosen on the development split: 92% of its safeguarding situations, and 1.3% of ordinary
# questions, get the lead (a lead where none was needed costs one sentence).
SAFEGUARDING_THRESHOLD = 0.5


@dataclass(frozen=True)
class Category:
    id: str
    description: str
    rules: str
    exemplars: tuple[str, ...]


@dataclass(frozen=True)
class Safeguarding:
    lead: str
    rule_query: str
    exemplars: tuple[str, ...]
    same_subject: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    categories: list[Category]
    allowed: list[str]
    allowed_groups: dict[str, list[str]]
    concealment: tuple[str, ...]
    honest: tuple[str, ...]
    safeguarding: Safeguarding
    risk: tuple[str, ...] = ()


def load_policy(path: Path = POLICY) -> Policy:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    categories = [Category(c["id"], c.get("description", ""), c.get("rules", ""),
                           tuple(c.get("exemplars") or [])) for c in data.get("categories", [])]
    sg = data.get("safeguarding") or {}
    groups = data.get("allowed") or {}
    if isinstance(groups, list):  # a plain list is one group
        groups = {"allowed": groups}
    groups = {str(k): [str(q) for q in v or []] for k, v in groups.items()}
    return Policy(categories, [q for v in groups.values() for q in v], groups,
                  tuple(str(c).lower() for c in data.get("concealment_cues") or []),
                  tuple(str(c).lower() for c in data.get("honest_cues") or []),
                  Safeguarding(str(sg.get("lead", "")), str(sg.get("rule_query", "")),
                               tuple(sg.get("exemplars") or []),
                               tuple(str(t) for t in sg.get("same_subject") or [])),
                  tuple(str(c).lower() for c in data.get("risk_cues") or []))


def cue_features(text: str, policy: Policy) -> np.ndarray:
    """Three features: how many concealment, honest and risk cues the text holds (each capped
    at 2, scaled to the size of a vector's components)."""
    low = plain(text).lower()
    hits = [min(sum(c in low for c in cues), 2)
            for cues in (policy.concealment, policy.honest, policy.risk)]
    return np.array(hits, dtype=np.float64) * CUE_SCALE


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, steps: int = STEPS
                 ) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-regularised logistic regression (full-batch gradient descent,
    classes weighted to balance)."""
    n, d = x.shape
    weight = np.where(y == 1, n / (2 * max(y.sum(), 1)), n / (2 * max((1 - y).sum(), 1)))
    w, b = np.zeros(d), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        g = (p - y) * weight
        w -= RATE * (x.T @ g / n + l2 * w / n)
        b -= RATE * g.mean()
    return w, b


class ExemplarCheck:
    """A logistic model over question vectors (and the intent cues), trained on first use on
    ``positives`` against ``negatives``; ``probability(text, vector)`` is how likely a question
    is one of the positives."""

    def __init__(self, name: str, embeddings: Any, policy: Policy, positives: list[str],
                 negatives: list[str], threshold: float, cache=None, words: bool = False) -> None:
        self.name = name
        self.embeddings = embeddings
        self.policy = policy
        self.positives, self.negatives = positives, negatives
        self.threshold = threshold
        self.cache = cache
        self.words = words
        self._lock = threading.Lock()
        self._model: tuple[np.ndarray, float, np.ndarray] | None = None
        self._words: Any = None

    def _word_model(self):
        """With ``words``: a second model over the request's words and word pairs (TF-IDF), which
        tells "how do I get it authorised" from "how do I get it past them" better than the
        sentence vectors, whose nearness is mostly about topic; the two are averaged."""
        if self._words is None:
            from sklearn.feature_extraction.text import TfidfVectorizer
            from sklearn.linear_model import LogisticRegression

            vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
            x = vectorizer.fit_transform(self.positives + self.negatives)
            y = [1] * len(self.positives) + [0] * len(self.negatives)
            model = LogisticRegression(C=WORDS_C, class_weight="balanced", max_iter=3000)
            self._words = (vectorizer, model.fit(x, y))
        return self._words

    def _vectors(self, texts: list[str]) -> np.ndarray:
        """The exemplars' vectors, through the indexer's embedding cache when there is one."""
        if self.cache is None:
            return np.asarray(self.embeddings.embed_documents(texts), dtype=np.float32)
        from bot.indexer import drive, embed_with_cache

        vectors, _ = drive(embed_with_cache(self.embeddings, self.cache, texts))
        return np.asarray(vectors, dtype=np.float32)

    def model(self) -> tuple[np.ndarray, float, np.ndarray]:
        with self._lock:
            if self._model is None:
                texts = self.positives + self.negatives
                x = self._vectors(texts)
                x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-9
                features = np.hstack([x.astype(np.float64),
                                      np.stack([cue_features(t, self.policy) for t in texts])])
                y = np.array([1] * len(self.positives) + [0] * len(self.negatives),
                             dtype=np.float64)
                w, b = fit_logistic(features, y)
                self._model = (w, b, x[:len(self.positives)])
                log.info("policy_check_trained check=%s positives=%s negatives=%s", self.name,
                         len(self.positives), len(self.negatives))
            return self._model

    def probability(self, text: str, vector) -> float:
        w, b, _ = self.model()
        v = np.asarray(vector, dtype=np.float64)
        v = np.concatenate([v / (np.linalg.norm(v) + 1e-9), cue_features(text, self.policy)])
        meaning = float(1 / (1 + np.exp(-(v @ w + b))))
        if not self.words:
            return meaning
        with self._lock:
            vectorizer, model = self._word_model()
        return 0.5 * meaning + 0.5 * float(model.predict_proba(vectorizer.transform([text]))[0, 1])

    def matches(self, text: str, vector) -> bool:
        return self.probability(text, vector) >= self.threshold


class PolicyChecks:
    """The two checks the policy file defines: harmful requests (refused) and safeguarding
    situations (answered, telling the artist to tell staff first)."""

    def __init__(self, embeddings: Any, path: Path = POLICY, cache=None) -> None:
        self.policy = policy = load_policy(path)
        harmful = [t for c in policy.categories for t in c.exemplars]
        self.harm = ExemplarCheck("harmful", embeddings, policy, harmful, policy.allowed,
                                  THRESHOLD, cache, words=True)
        self._category_of = [c.id for c in policy.categories for _ in c.exemplars]
        concerns = list(policy.safeguarding.exemplars)
        others = [q for group, questions in policy.allowed_groups.items()
                  if group not in policy.safeguarding.same_subject for q in questions
                  if q not in set(concerns)] + harmful
        self.safeguarding = ExemplarCheck("safeguarding", embeddings, policy, concerns, others,
                                          SAFEGUARDING_THRESHOLD, cache)

    def category(self, vector) -> str:
        """The category of the harmful exemplar nearest to a question (for the staff report)."""
        _, _, exemplars = self.harm.model()
        v = np.asarray(vector, dtype=np.float32)
        return self._category_of[int(np.argmax(exemplars @ (v / (np.linalg.norm(v) + 1e-9))))]

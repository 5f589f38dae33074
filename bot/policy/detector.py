"""The checks that read the policy file: harmful requests and safeguarding situations.

Each is one logistic model, trained on first use on the exemplars in ``requests.yaml`` and
``exemplars.yaml``: harmful requests by category against honest look-alikes and real questions from
the question inventory; safeguarding situations against both. Its features are the bundled
embedding model's sentence vector, a few intent cues (concealment and evasion phrases against
honest ones) and the request's words, word pairs and character n-grams. Neither is a list of rules
for particular requests: a request phrased as no exemplar was ("which bit of the search do they
usually skip") is caught when it means and says what harmful exemplars do, and "how do I get a
USB stick authorised" stays an honest question. Thresholds are chosen by cross-validation over the
exemplars (scripts/calibrate_policy.py); the held-out safety set
(tests/eval/safety_requests_v2.yaml) is never used to fit anything."""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bot.policy.safety import plain

log = logging.getLogger(__name__)

POLICY = Path(__file__).with_name("requests.yaml")
EXEMPLARS = Path(__file__).with_name("exemplars.yaml")
# Chosen with scripts/calibrate_policy.py (every exemplar scored by a model trained without it,
# 5 folds, docs/quality.md): with the second safety set and the question sets' honest questions
# among the exemplars (session 5), at 0.80 the model refused 75% of the harmful exemplars, 2.8%
# of the honest look-alikes (written to sound like harmful requests) and 1 of 941 ordinary
# questions; 0.85 refused 69% and 2.0%. Session 10, with the eleventh safety set among the
# exemplars and the harmful check's word model loosened (LOOSER_C): at 0.85 it refused 87.5% of
# the harmful exemplars, 1.5% of the look-alikes and 0.3% of ordinary questions (0.80: 89.5%,
# 2.1%; 0.90: 84.9%, 1.1%); at C=3 and 0.80 it had been 84.0% and 1.4%. With the twelfth set and
# a training set for the three thinnest categories added: at 0.85, 87.6%, 1.8% and 0.5% (0.90:
# 84.8%, 1.1%, 0.3%); at 0.85 the question sets' gate found an ordinary follow-up ("which of
# those would need an enhanced DBS with barred list?", 0.88) refused, so 0.90: against the
# session's start (C=3, 0.80: 84.0%, 1.4%, 0.4%) about as many harmful requests refused and
# fewer honest questions. Session 12, with the thirteenth and fourteenth safety sets, a training
# set of 240 subtle harmful requests and 240 look-alikes (written blind) and the in-scope
# questions of the fourth to fifteenth question sets (1,598 real users' questions, none about
# safeguarding) among the exemplars: cross-validated, 84.0% of harmful exemplars refused at 0.90,
# 79.2% at 0.95 (look-alikes 1.3%, 0.8%); on the fourteenth safety set, kept out of training for
# this, 85.0% / 0.8% at 0.90, 83.3% / 0.8% at 0.92 and 80.8% / 0% at 0.95 (without the training
# set: 81.7%, 80.0% and 78.3%). 0.95 is the lowest threshold that refuses none of the 2,459
# ordinary questions of the question sets (the highest scores 0.94).
THRESHOLD = 0.95
WORDS_C = 3.0
# How loosely each check's word model is regularised (LogisticRegression's C), where it is not
# WORDS_C. Session 10, 5-fold cross-validation over the exemplars at the same share of
# look-alikes refused (1.4%): the harmful-request check refused 83% of the harmful exemplars at
# C=3, 86% at C=10 and 86% at C=30 (at 1.0% look-alikes: 81%, 83%, 84%); with some 2,300 harmful
# exemplars the words and character n-grams can carry more weight than when C was chosen.
LOOSER_C = {"harmful": 30.0}
CUE_SCALE = 0.5
L2 = 0.1
STEPS = 3000
RATE = 4.0
# Chosen the same way: with the word features, 94% of the safeguarding exemplars got the lead,
# and 2.8% of other questions (a lead where none was needed costs one sentence).
SAFEGUARDING_THRESHOLD = 0.45
# Chosen the same way (session 6, each check trained against the others' exemplars too): at 0.65,
# 86% of the personal-case exemplars were declined, none of the honest questions written with
# them, 0.4% of the other honest exemplars and 0.4% of harmful requests (0.60: 88%, 0.5%, 0.7%);
# declining an honest question costs more than missing a personal case, which the scope and
# answer checks usually decline anyway. The pattern rules it replaced caught 46% of the same
# personal cases and declined 2.3% of those honest questions.
PERSONAL_THRESHOLD = 0.65
# Chosen the same way (session 6): the lowest threshold at which no honest exemplar was declined.
# At 0.90, 32% of the out-of-scope exemplars (eleven areas, 25 to 30 each) were declined and none
# of the 3,000 honest questions (0.75: 51%, 1.0% of the honest questions written with them, 0.4%
# of the others). Declining an honest question costs more than missing one of these, which the
# scope check's area descriptions or the answer check usually decline anyway; on the question
# sets 0.75 declined four covered questions ("can a sole trader get on the DPS?") for three
# out-of-scope ones, 0.90 only the out-of-scope ones.
AREAS_THRESHOLD = 0.9


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
class Area:
    """Another organisation's business: declined with a pointer to where to ask."""

    id: str
    description: str
    pointer: str
    exemplars: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    categories: list[Category]
    allowed: list[str]
    allowed_groups: dict[str, list[str]]
    concealment: tuple[str, ...]
    honest: tuple[str, ...]
    safeguarding: Safeguarding
    risk: tuple[str, ...] = ()
    personal: tuple[str, ...] = ()   # personal cases (declined with a pointer)
    areas: tuple[Area, ...] = ()     # other organisations' business (declined with a pointer)


def load_policy(path: Path = POLICY, more: Path | None = EXEMPLARS) -> Policy:
    """The policy file, with the exemplars of ``more`` (same shape) added to its own."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    extra = (yaml.safe_load(Path(more).read_text(encoding="utf-8")) or {}) \
        if more is not None and Path(more).exists() else {}
    more_by_category = extra.get("categories") or {}
    categories = [Category(c["id"], c.get("description", ""), c.get("rules", ""),
                           tuple(c.get("exemplars") or []) + tuple(more_by_category.get(c["id"])
                                                                   or []))
                  for c in data.get("categories", [])]
    unknown = set(more_by_category) - {c.id for c in categories}
    if unknown:
        raise ValueError(f"{more} names categories that {path} does not define: "
                         f"{', '.join(sorted(unknown))}")
    more_areas = extra.get("out_of_scope_areas") or {}
    areas = tuple(Area(str(a["id"]), str(a.get("description", "")), str(a.get("pointer", "")),
                       tuple(a.get("exemplars") or []) + tuple(more_areas.get(a["id"]) or []))
                  for a in data.get("out_of_scope_areas") or [])
    if set(more_areas) - {a.id for a in areas}:
        raise ValueError(f"{more} names out-of-scope areas that {path} does not define: "
                         f"{', '.join(sorted(set(more_areas) - {a.id for a in areas}))}")
    sg = data.get("safeguarding") or {}
    groups: dict[str, list[str]] = {}
    for source in (data.get("allowed") or {}, extra.get("allowed") or {}):
        if isinstance(source, list):  # a plain list is one group
            source = {"allowed": source}
        for k, v in source.items():
            groups.setdefault(str(k), []).extend(str(q) for q in v or [])
    return Policy(categories, [q for v in groups.values() for q in v], groups,
                  tuple(str(c).lower() for c in data.get("concealment_cues") or []),
                  tuple(str(c).lower() for c in data.get("honest_cues") or []),
                  Safeguarding(str(sg.get("lead", "")), str(sg.get("rule_query", "")),
                               tuple(sg.get("exemplars") or []) + tuple(extra.get("safeguarding")
                                                                        or []),
                               tuple(str(t) for t in sg.get("same_subject") or [])),
                  tuple(str(c).lower() for c in data.get("risk_cues") or []),
                  tuple(str(q) for q in ((data.get("personal_cases") or {}).get("exemplars")
                                         or [])) + tuple(str(q) for q in
                                                         extra.get("personal_cases") or []),
                  areas)


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


def _tfidf(vectoriser: Any, terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """What a fitted TfidfVectorizer (sublinear tf, l2 norm) makes of one text's terms, as the
    columns and values of its one row: the same figures as ``transform``, without the input
    checks that made each policy check cost about 2 ms a question (docs/benchmarks.md)."""
    vocabulary = vectoriser.vocabulary_
    counts: dict[int, int] = {}
    for term in terms:
        column = vocabulary.get(term)
        if column is not None:
            counts[column] = counts.get(column, 0) + 1
    if not counts:
        return np.zeros(0, dtype=np.intp), np.zeros(0)
    rows = np.fromiter(counts, dtype=np.intp, count=len(counts))
    values = (np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts))) + 1.0) \
        * vectoriser.idf_[rows]
    norm = float(np.sqrt(values @ values))
    return rows, values / norm if norm else values


class ExemplarCheck:
    """A logistic model trained on first use on ``positives`` against ``negatives``;
    ``probability(text, vector)`` is how likely a question is one of the positives.

    Its features are the question's sentence vector (the bundled embedding model's) and the intent
    cues; with ``words``, also the question's words and word pairs and its character n-grams
    (TF-IDF), all in one model: the vectors carry what a request is about, the words and
    character n-grams how it asks ("get it authorised" against "get it past them", misspelt or
    in slang), which the vectors alone tell apart poorly."""

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
        self._model: Any = None
        self._weights: Any = None
        self._exemplars: np.ndarray | None = None

    def _vectors(self, texts: list[str]) -> np.ndarray:
        """The exemplars' vectors, through the indexer's embedding cache when there is one."""
        from bot.ingest.indexer import cached_vectors

        return cached_vectors(self.embeddings, self.cache, texts)

    def _dense(self, texts: list[str], vectors: np.ndarray) -> np.ndarray:
        x = np.asarray(vectors, dtype=np.float64).reshape(len(texts), -1)
        x = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-9)
        return np.hstack([x, np.stack([cue_features(t, self.policy) for t in texts])])

    def _train(self) -> None:
        texts = self.positives + self.negatives
        vectors = self._vectors(texts)
        self._exemplars = vectors[:len(self.positives)] / (
            np.linalg.norm(vectors[:len(self.positives)], axis=1, keepdims=True) + 1e-9)
        dense = self._dense(texts, vectors)
        y = np.array([1] * len(self.positives) + [0] * len(self.negatives), dtype=np.float64)
        if not self.words:
            self._model = fit_logistic(dense, y)
        else:
            from scipy.sparse import csr_matrix, hstack
            from sklearn.feature_extraction.text import TfidfVectorizer
            from sklearn.linear_model import LogisticRegression

            word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
            char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                                   min_df=2)
            x = hstack([word.fit_transform(texts), char.fit_transform(texts),
                        csr_matrix(dense)]).tocsr()
            model = LogisticRegression(C=LOOSER_C.get(self.name, WORDS_C), class_weight="balanced",
                                       max_iter=5000)
            self._model = (word, char, model.fit(x, y))
        log.info("policy_check_trained check=%s positives=%s negatives=%s", self.name,
                 len(self.positives), len(self.negatives))

    def exemplar_vectors(self) -> np.ndarray:
        """The positives' unit vectors (trained on first use)."""
        with self._lock:
            if self._model is None:
                self._train()
            assert self._exemplars is not None
            return self._exemplars

    def nearest(self, vector) -> int:
        """The index of the positive exemplar nearest to a question's vector."""
        v = np.asarray(vector, dtype=np.float32)
        return int(np.argmax(self.exemplar_vectors() @ (v / (np.linalg.norm(v) + 1e-9))))

    def probability(self, text: str, vector) -> float:
        self.exemplar_vectors()
        dense = self._dense([text], np.asarray(vector))
        if not self.words:
            w, b = self._model
            return float(1 / (1 + np.exp(-(dense[0] @ w + b))))
        word, char, model = self._model
        if self._weights is None:  # the fitted model as plain arrays (see _tfidf)
            self._weights = (model.coef_[0], float(model.intercept_[0]),
                             word.build_analyzer(), char.build_analyzer())
        coef, bias, words, chars = self._weights
        z = bias + float(dense[0] @ coef[len(word.vocabulary_) + len(char.vocabulary_):])
        for offset, vectoriser, analyse in ((0, word, words),
                                            (len(word.vocabulary_), char, chars)):
            rows, values = _tfidf(vectoriser, analyse(text))
            z += float(values @ coef[offset + rows]) if len(rows) else 0.0
        return 1 / (1 + math.exp(-z))

    def matches(self, text: str, vector) -> bool:
        return self.probability(text, vector) >= self.threshold


Parts = list[tuple[str, list[str]]]


def training_sets(policy: Policy) -> dict[str, tuple[list[str], Parts]]:
    """What each check learns from: its positives, and its negatives in named parts ("honest"
    is the policy's honest questions), for the checks themselves and for
    scripts/calibrate_policy.py alike. Each check learns its own kind against everything else: a
    parent asking how to get a son moved nearer home is a personal case, never a harmful request,
    and the reverse; another organisation's business ("help me write a cover letter") is honest
    to the harmful-request check. Safeguarding situations learn against the honest questions
    other than those on their own subjects, and the harmful requests."""
    harmful = [t for c in policy.categories for t in c.exemplars]
    personal = list(policy.personal)
    elsewhere = [t for a in policy.areas for t in a.exemplars]
    concerns = list(policy.safeguarding.exemplars)
    others = [q for group, questions in policy.allowed_groups.items()
              if group not in policy.safeguarding.same_subject for q in questions
              if q not in set(concerns)]
    return {"harmful": (harmful, [("honest", policy.allowed), ("personal", personal),
                                  ("areas", elsewhere)]),
            "safeguarding": (concerns, [("honest", others), ("harmful", harmful)]),
            "personal": (personal, [("honest", policy.allowed), ("harmful", harmful)]),
            "areas": (elsewhere, [("honest", policy.allowed), ("harmful", harmful),
                                  ("personal", personal)])}


def _learns(sets: dict[str, tuple[list[str], Parts]], name: str) -> tuple[list[str], list[str]]:
    positives, parts = sets[name]
    return positives, [q for _, part in parts for q in part]


class PolicyChecks:
    """The checks the policy file defines: harmful requests (refused), personal cases
    (declined, pointing to a solicitor or the establishment), other organisations' business
    (declined with a pointer) and safeguarding situations (answered, telling the artist to tell
    staff first)."""

    def __init__(self, embeddings: Any, path: Path = POLICY, cache=None) -> None:
        self.policy = policy = load_policy(path)
        sets = training_sets(policy)
        self.harm = ExemplarCheck("harmful", embeddings, policy, *_learns(sets, "harmful"), THRESHOLD,
                                  cache, words=True)
        self._category_of = [c.id for c in policy.categories for _ in c.exemplars]
        self.safeguarding = ExemplarCheck("safeguarding", embeddings, policy,
                                          *_learns(sets, "safeguarding"), SAFEGUARDING_THRESHOLD, cache,
                                          words=True)
        self.personal = ExemplarCheck("personal", embeddings, policy, *_learns(sets, "personal"),
                                      PERSONAL_THRESHOLD, cache, words=True) \
            if policy.personal else None
        self._area_of = [a for a in policy.areas for _ in a.exemplars]
        self.areas = ExemplarCheck("areas", embeddings, policy, *_learns(sets, "areas"), AREAS_THRESHOLD,
                                   cache, words=True) if self._area_of else None

    def warm(self) -> None:
        """Train every check now rather than on the first question (about 15 s: the web app
        does this before it takes connections, so the first user does not wait for it)."""
        for check in (self.harm, self.safeguarding, self.personal, self.areas):
            if check is not None:
                check.exemplar_vectors()

    def area(self, question: str, vector) -> Area | None:
        """The out-of-scope area a question belongs to (that of its nearest exemplar), or None
        when the areas check says it is the library's business."""
        if self.areas is None or not self.areas.matches(question, vector):
            return None
        return self._area_of[self.areas.nearest(vector)]

    def category(self, vector) -> str:
        """The category of the harmful exemplar nearest to a question (for the staff report)."""
        return self._category_of[self.harm.nearest(vector)]

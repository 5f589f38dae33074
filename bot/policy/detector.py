"""The semantic check of harmful requests: a small logistic model over the bundled embedding
model's vectors, trained at start-up on the exemplars in ``requests.yaml`` (harmful requests by
category against honest look-alikes and real questions from the question inventory).

It generalises from the exemplars' meaning rather than their words, so a request phrased in a way
no rule foresaw ("which bit of the search do they usually skip") is caught when it means what an
exemplar means, while "how do I get a USB stick authorised" stays an honest question because its
nearest exemplars are honest ones. The decision threshold was chosen on the development split of
tests/eval/safety_requests.yaml (docs/quality.md); the test split is never used to fit anything.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

log = logging.getLogger(__name__)

POLICY = Path(__file__).with_name("requests.yaml")
# Chosen on the development split (docs/quality.md): refusing at 0.95 caught about half of the
# harmful requests there that the pattern rules missed, at a cost of one honest look-alike in 72.
THRESHOLD = 0.95
CUE_SCALE = 0.5
L2 = 0.1
STEPS = 3000
RATE = 4.0


@dataclass(frozen=True)
class Category:
    id: str
    description: str
    rules: str
    exemplars: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    categories: list[Category]
    allowed: list[str]
    concealment: tuple[str, ...]
    honest: tuple[str, ...]


def load_policy(path: Path = POLICY) -> Policy:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    categories = [Category(c["id"], c.get("description", ""), c.get("rules", ""),
                           tuple(c.get("exemplars") or [])) for c in data.get("categories", [])]
    return Policy(categories, [str(q) for q in data.get("allowed") or []],
                  tuple(str(c).lower() for c in data.get("concealment_cues") or []),
                  tuple(str(c).lower() for c in data.get("honest_cues") or []))


def cue_features(text: str, policy: Policy) -> np.ndarray:
    """Two features: how many concealment cues and how many honest cues the text holds (capped
    at 2, scaled to the size of a vector's components)."""
    low = " ".join(text.lower().replace("\u2019", "'").split())
    hits = [min(sum(c in low for c in cues), 2) for cues in (policy.concealment, policy.honest)]
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


class HarmDetector:
    """``probability(vector)``: how likely a question (as a normalised vector) is a request for
    help breaking the rules; ``category(vector)``: the nearest category by exemplar."""

    def __init__(self, embeddings: Any, path: Path = POLICY, cache=None,
                 threshold: float = THRESHOLD) -> None:
        self.embeddings = embeddings
        self.path = path
        self.cache = cache
        self.threshold = threshold
        self._lock = threading.Lock()
        self._model: tuple[np.ndarray, float, np.ndarray, list[str]] | None = None
        self.policy = load_policy(path)

    def _vectors(self, texts: list[str]) -> np.ndarray:
        if self.cache is None:
            return np.asarray(self.embeddings.embed_documents(texts), dtype=np.float32)
        keys = [self.cache.key(t) for t in texts]
        found = self.cache.get_many(keys)
        missing = [t for t, k in zip(texts, keys) if k not in found]
        if missing:
            fresh = np.asarray(self.embeddings.embed_documents(missing), dtype=np.float32)
            new = {self.cache.key(t): v for t, v in zip(missing, fresh)}
            self.cache.put_many(new)
            found.update(new)
        return np.stack([found[k] for k in keys]).astype(np.float32)

    def model(self):
        with self._lock:
            if self._model is None:
                policy = self.policy
                harmful = [(c.id, t) for c in policy.categories for t in c.exemplars]
                texts = [t for _, t in harmful] + policy.allowed
                x = self._vectors(texts)
                x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-9
                features = np.hstack([x.astype(np.float64),
                                      np.stack([cue_features(t, policy) for t in texts])])
                y = np.array([1] * len(harmful) + [0] * len(policy.allowed), dtype=np.float64)
                w, b = fit_logistic(features, y)
                self._model = (w, b, x[:len(harmful)], [c for c, _ in harmful])
                log.info("harm_detector_trained harmful=%s allowed=%s", len(harmful),
                         len(policy.allowed))
            return self._model

    def probability(self, text: str, vector) -> float:
        w, b, _, _ = self.model()
        v = np.asarray(vector, dtype=np.float64)
        v = np.concatenate([v / (np.linalg.norm(v) + 1e-9), cue_features(text, self.policy)])
        return float(1 / (1 + np.exp(-(v @ w + b))))

    def category(self, vector) -> str:
        _, _, harmful, ids = self.model()
        v = np.asarray(vector, dtype=np.float32)
        return ids[int(np.argmax(harmful @ (v / (np.linalg.norm(v) + 1e-9))))]

    def is_harmful(self, text: str, vector) -> bool:
        return self.probability(text, vector) >= self.threshold

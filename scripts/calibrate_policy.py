"""Cross-validated thresholds for the policy checks (bot/policy/detector.py).

Every exemplar in bot/policy/requests.yaml is scored by a model trained without it (k folds), so
the figures say how the checks do on requests they were not trained on. Prints, for a range of
thresholds: the share of harmful exemplars refused, of look-alikes and ordinary questions refused,
(for the safeguarding check) of situations that get the lead and of other questions that get it
needlessly, and (for the personal-case check) of personal cases declined and of honest questions
declined with them. The thresholds in detector.py are chosen from this table; the held-out test splits
in tests/eval/safety_requests.yaml are never used here.

Usage: HF_HUB_OFFLINE=1 python scripts/calibrate_policy.py [--folds 5]
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

from bot.config import load_settings
from bot.policy.detector import (
    AREAS_THRESHOLD,
    PERSONAL_THRESHOLD,
    SAFEGUARDING_THRESHOLD,
    THRESHOLD,
    ExemplarCheck,
    load_policy,
)
from bot.wiring import build_bot

LOOKALIKE_GROUP = "look-alikes"
PERSONAL_GROUP = "mention a case"  # the honest questions written with the personal cases
AREAS_GROUP = "other organisations' business"  # ... and with the out-of-scope areas


def out_of_fold(name, embeddings, policy, positives, negatives, folds, cache, words):
    """Each text's probability from a model trained on the other folds."""
    rng = np.random.default_rng(0)
    texts = positives + negatives
    fold = rng.integers(0, folds, len(texts))
    probs = np.zeros(len(texts))
    vectors = np.asarray(ExemplarCheck(name, embeddings, policy, [], [], 0.5, cache)
                         ._vectors(texts), dtype=np.float32)
    for f in range(folds):
        keep = fold != f
        pos = [t for i, t in enumerate(positives) if keep[i]]
        neg = [t for i, t in enumerate(negatives) if keep[len(positives) + i]]
        check = ExemplarCheck(name, embeddings, policy, pos, neg, 0.5, cache, words=words)
        for i in np.flatnonzero(~keep):
            probs[i] = check.probability(texts[i], vectors[i])
    return probs[:len(positives)], probs[len(positives):]


def split_allowed(policy, marker: str) -> tuple[list[str], list[str]]:
    """The honest questions of the groups whose name holds ``marker``, and all the others."""
    groups = policy.allowed_groups.items()
    return ([q for g, qs in groups if marker in g for q in qs],
            [q for g, qs in groups if marker not in g for q in qs])


def table(label, pos, neg_groups, thresholds):
    print(f"\n{label}")
    print("threshold  positives  " + "  ".join(f"{g[:18]:>18}" for g in neg_groups))
    for t in thresholds:
        cells = "  ".join(f"{np.mean(v >= t):18.3f}" for v in neg_groups.values())
        print(f"{t:9.2f}  {np.mean(pos >= t):9.3f}  {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--safeguarding-words", action="store_true",
                        help="try the safeguarding check with the word features as well")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    bot = build_bot(load_settings())
    policy = load_policy()
    cache = bot.cache()
    harmful = [t for c in policy.categories for t in c.exemplars]
    lookalikes, ordinary = split_allowed(policy, LOOKALIKE_GROUP)
    personal = list(policy.personal)
    elsewhere = [t for a in policy.areas for t in a.exemplars]
    negatives = lookalikes + ordinary + personal + elsewhere
    pos, neg = out_of_fold("harmful", bot.embeddings, policy, harmful, negatives, args.folds,
                           cache, True)
    n, m, o = len(lookalikes), len(lookalikes) + len(ordinary), len(negatives) - len(elsewhere)
    table(f"Harmful requests (now {THRESHOLD}): refused", pos,
          {"look-alikes refused": neg[:n], "ordinary refused": neg[n:m],
           "personal cases refused": neg[m:o], "other areas refused": neg[o:]},
          np.arange(0.5, 0.96, 0.05))
    concerns = list(policy.safeguarding.exemplars)
    others = [q for g, qs in policy.allowed_groups.items()
              if g not in policy.safeguarding.same_subject for q in qs if q not in set(concerns)]
    pos, neg = out_of_fold("safeguarding", bot.embeddings, policy, concerns, others + harmful,
                           args.folds, cache, args.safeguarding_words)
    table(f"Safeguarding situations (now {SAFEGUARDING_THRESHOLD}): lead given", pos,
          {"others given lead": neg[:len(others)], "harmful given lead": neg[len(others):]},
          np.arange(0.3, 0.91, 0.05))
    near, rest = split_allowed(policy, PERSONAL_GROUP)
    pos, neg = out_of_fold("personal", bot.embeddings, policy, personal, near + rest + harmful,
                           args.folds, cache, True)
    n, m = len(near), len(near) + len(rest)
    table(f"Personal cases (now {PERSONAL_THRESHOLD}): declined", pos,
          {"honest near them": neg[:n], "other honest": neg[n:m], "harmful declined": neg[m:]},
          np.arange(0.3, 0.91, 0.05))
    near, rest = split_allowed(policy, AREAS_GROUP)
    pos, neg = out_of_fold("areas", bot.embeddings, policy, elsewhere,
                           near + rest + harmful + personal, args.folds, cache, True)
    n, m = len(near), len(near) + len(rest)
    table(f"Other organisations' business (now {AREAS_THRESHOLD}): declined", pos,
          {"honest near them": neg[:n], "other honest": neg[n:m], "harmful or personal": neg[m:]},
          np.arange(0.3, 0.91, 0.05))


if __name__ == "__main__":
    main()

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
    training_sets,
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
    sets = training_sets(policy)  # what the shipped checks learn from, in named parts
    run("harmful", f"Harmful requests (now {THRESHOLD}): refused", policy, sets, bot, cache,
        args, True, {"honest": (LOOKALIKE_GROUP, "look-alikes refused", "ordinary refused"),
                     "personal": "personal cases refused", "areas": "other areas refused"},
        np.arange(0.5, 0.96, 0.05))
    run("safeguarding", f"Safeguarding situations (now {SAFEGUARDING_THRESHOLD}): lead given",
        policy, sets, bot, cache, args, args.safeguarding_words,
        {"honest": "others given lead", "harmful": "harmful given lead"},
        np.arange(0.3, 0.91, 0.05))
    run("personal", f"Personal cases (now {PERSONAL_THRESHOLD}): declined", policy, sets, bot,
        cache, args, True,
        {"honest": (PERSONAL_GROUP, "honest near them", "other honest"),
         "harmful": "harmful declined"}, np.arange(0.3, 0.91, 0.05))
    run("areas", f"Other organisations' business (now {AREAS_THRESHOLD}): declined", policy,
        sets, bot, cache, args, True,
        {"honest": (AREAS_GROUP, "honest near them", "other honest"),
         "harmful": "harmful or personal", "personal": "harmful or personal"},
        np.arange(0.3, 0.91, 0.05))


def run(name, label, policy, sets, bot, cache, args, words, columns, thresholds):
    """One check's cross-validated table. ``columns`` names the column of each part of its
    negatives; for the honest part, (group marker, column of the groups whose name holds it,
    column of the others)."""
    positives, parts = sets[name]
    grouped: dict[str, list[str]] = {}
    for part, texts in parts:
        column = columns[part]
        if isinstance(column, tuple):
            marker, near, rest = column
            near_texts, rest_texts = split_allowed(policy, marker)
            assert sorted(near_texts + rest_texts) == sorted(texts)  # the policy's honest questions
            grouped.setdefault(near, []).extend(near_texts)
            grouped.setdefault(rest, []).extend(rest_texts)
        else:
            grouped.setdefault(column, []).extend(texts)
    ordered = [q for qs in grouped.values() for q in qs]
    pos, neg = out_of_fold(name, bot.embeddings, policy, positives, ordered, args.folds, cache,
                           words)
    cells, at = {}, 0
    for column, qs in grouped.items():
        cells[column] = neg[at:at + len(qs)]
        at += len(qs)
    table(label, pos, cells, thresholds)

if __name__ == "__main__":
    main()

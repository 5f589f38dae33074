"""Fit the answer check (bot/answer/deciding.py): when to answer and when to decline.

Every question of the given sets goes through the bot as far as the answer: the checks, the
search and the scope judgement run as in the chat, and for each question that reaches the
extractive answerer the script records the check's measurements and whether the answer it
would give holds the key fact (``must_mention``; never for a ``not_in_library`` question). A
logistic model learns one from the other. To show how it does on questions it was not fitted
on, each set is scored by a model fitted on the other sets; the table gives, per set and
threshold, the covered questions whose answer holds the key fact, the not-in-library questions
declined, and the wrong answers given (as ``eval`` counts them). The model fitted on all the
sets is written to bot/answer/answer_check.json with the chosen threshold. Never pass a set's
held-out part before its figures are recorded.

Usage: HF_HUB_OFFLINE=1 python scripts/calibrate_answers.py [--threshold 0.35] [--write]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from bot.answer.citing import compose
from bot.answer.deciding import CHECK_FILE, FEATURES, measure
from bot.config import load_settings
from bot.documents import Answer
from bot.ops.evaluation import _history, has_key_fact, load_questions
from bot.wiring import build_bot

SETS = ["tests/eval/questions.yaml", "tests/eval/fresh_questions.yaml",
        "tests/eval/independent_questions.yaml", "tests/eval/independent_questions_v2.yaml",
        "tests/eval/independent_questions_v3.yaml", "tests/eval/independent_questions_v4.yaml",
        "tests/eval/independent_questions_v5.yaml", "tests/eval/independent_questions_v6.yaml",
        "tests/eval/independent_questions_v7.yaml", "tests/eval/independent_questions_v8.yaml",
        "tests/eval/independent_questions_v9.yaml", "tests/eval/independent_questions_v10.yaml",
        "tests/eval/independent_questions_v11.yaml", "tests/eval/independent_questions_v12.yaml",
        "tests/eval/independent_questions_v13.yaml", "tests/eval/independent_questions_v14.yaml",
        "corpus_src/question_inventory.yaml"]
THRESHOLDS = (0.35, 0.4, 0.45, 0.5, 0.55)


def collect(bot, path: str) -> list[dict]:
    """One row per question of the set: whether it reached the answerer, its measurements and
    whether the answer would hold the key fact."""
    pipeline = bot.pipeline
    rows = []
    for item in load_questions(Path(path)):
        if item["kind"] not in ("in_scope", "out_of_scope"):
            continue
        nil = bool(item.get("not_in_library")) or item["kind"] == "out_of_scope"
        row = {"set": Path(path).name, "nil": nil, "covered": not nil and
               bool(item.get("must_mention")), "reached": False, "right": False}
        rows.append(row)
        prepared = pipeline._prepare(item["question"], _history(item), None, None)
        if isinstance(prepared, Answer) or prepared.lead is not None:
            continue  # declined, refused or a safeguarding situation: not the check's to decide
        sentences = bot.extractive.select(prepared.query, prepared.docs, prepared.q_vec)
        if not sentences:
            continue
        text, _ = compose(sentences, prepared.docs, mark_related=True)
        row.update(reached=True, right=row["covered"] and has_key_fact(text, item["must_mention"]),
                   x=[measure(prepared.query, sentences, prepared.docs, prepared.index)[f]
                      for f in FEATURES])
    return rows


def fit(rows: list[dict]):
    from sklearn.linear_model import LogisticRegression

    x = np.array([r["x"] for r in rows])
    y = np.array([int(r["right"]) for r in rows])
    mean, scale = x.mean(0), x.std(0) + 1e-9
    model = LogisticRegression(C=1.0, max_iter=2000).fit((x - mean) / scale, y)
    return mean, scale, model


def figures(rows: list[dict], keep) -> tuple[float, float, float]:
    covered = [r for r in rows if r["covered"]]
    nil = [r for r in rows if r["nil"]]
    kept = [r for r in rows if r["reached"] and keep(r)]
    return (sum(r["right"] for r in kept) / max(len(covered), 1),
            (len(nil) - sum(r["nil"] for r in kept)) / len(nil) if nil else float("nan"),
            sum(not r["right"] for r in kept) / max(len(rows), 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", default=SETS)
    parser.add_argument("--threshold", type=float, default=0.45)
    parser.add_argument("--write", action="store_true", help=f"write {CHECK_FILE.name}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    bot = build_bot(load_settings())
    rows = [r for path in args.sets for r in collect(bot, path)]
    reached = [r for r in rows if r["reached"]]
    names = sorted({r["set"] for r in rows})
    held_out: dict[int, float] = {}
    for name in names:  # each set scored by a model fitted on the others
        mean, scale, model = fit([r for r in reached if r["set"] != name])
        test = [r for r in reached if r["set"] == name]
        if test:
            p = model.predict_proba((np.array([r["x"] for r in test]) - mean) / scale)[:, 1]
            held_out.update({id(r): float(v) for r, v in zip(test, p)})
    print("key fact / not-in-library declined / wrong, each set scored by a model fitted on "
          "the others")
    print(f"{'set':34s} " + " | ".join(f"{t:>17}" for t in ("all answered",) + THRESHOLDS))
    for name in names + ["all"]:
        part = [r for r in rows if name in ("all", r["set"])]
        cells = [figures(part, lambda r: True)] + [
            figures(part, lambda r, t=t: held_out[id(r)] >= t) for t in THRESHOLDS]
        print(f"{name[:34]:34s} " + " | ".join(f"{a:.3f} {b:.3f} {c:.3f}" for a, b, c in cells))
    mean, scale, model = fit(reached)
    check = {"features": list(FEATURES), "mean": mean.round(6).tolist(),
             "scale": scale.round(6).tolist(), "weights": model.coef_[0].round(6).tolist(),
             "bias": round(float(model.intercept_[0]), 6), "threshold": args.threshold,
             "fitted_on": [Path(s).name for s in args.sets], "questions": len(reached)}
    print(json.dumps(check, indent=1))
    if args.write:
        CHECK_FILE.write_text(json.dumps(check, indent=1) + "\n", encoding="utf-8")
        print(f"written to {CHECK_FILE}")


if __name__ == "__main__":
    main()

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

The relevance model's measurement (``relevance``, bot/models/relevance.py) is fitted apart: that
model was trained on most of these sets, so on them its scores are better than on new questions.
The other measurements are fitted on every set but those named with --stack-on; then, on the
--stack-on sets alone (the ones the relevance model was not trained on: scripts/train_relevance.py
--hold-out), a second logistic model weighs the first one's score against the relevance score.
The written check is the two combined (its weights are the first model's scaled, plus one for
relevance).

Usage: HF_HUB_OFFLINE=1 python scripts/calibrate_answers.py [--threshold 0.35]
           [--stack-on v14,v15,v16] [--write]
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

BASE = tuple(f for f in FEATURES if f != "relevance")
SETS = ["tests/eval/questions.yaml", "tests/eval/fresh_questions.yaml",
        "tests/eval/independent_questions.yaml", "tests/eval/independent_questions_v2.yaml",
        "tests/eval/independent_questions_v3.yaml", "tests/eval/independent_questions_v4.yaml",
        "tests/eval/independent_questions_v5.yaml", "tests/eval/independent_questions_v6.yaml",
        "tests/eval/independent_questions_v7.yaml", "tests/eval/independent_questions_v8.yaml",
        "tests/eval/independent_questions_v9.yaml", "tests/eval/independent_questions_v10.yaml",
        "tests/eval/independent_questions_v11.yaml", "tests/eval/independent_questions_v12.yaml",
        "tests/eval/independent_questions_v13.yaml", "tests/eval/independent_questions_v14.yaml",
        "tests/eval/independent_questions_v15.yaml", "tests/eval/independent_questions_v16.yaml",
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
                   m=measure(prepared.query, sentences, prepared.docs, prepared.index,
                             bot.relevance))
        row["x"] = [row["m"][f] for f in BASE]
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


def with_relevance(check: dict, model, mean, scale, rows: list[dict], threshold: float) -> dict:
    """The check with the relevance measurement: on ``rows`` (sets the relevance model never
    saw), a logistic model over the first model's score and the standardised relevance score;
    each stack set scored by one fitted on the others first, to show what it does."""
    from sklearn.linear_model import LogisticRegression

    reached = [r for r in rows if r["reached"] and r["m"]["relevance"] is not None]
    if len(reached) < 50:
        raise SystemExit("Too few stack-set questions reached the answer with a relevance score "
                         "(is BOT_RELEVANCE_MODEL on?).")
    base = model.decision_function((np.array([r["x"] for r in reached]) - mean) / scale)
    relevance = np.array([r["m"]["relevance"] for r in reached])
    r_mean, r_scale = float(relevance.mean()), float(relevance.std() + 1e-9)
    x = np.c_[base, (relevance - r_mean) / r_scale]
    y = np.array([int(r["right"]) for r in reached])
    names = sorted({r["set"] for r in reached})
    held: dict[int, float] = {}
    for name in names:
        train = np.array([r["set"] != name for r in reached])
        fitted = LogisticRegression().fit(x[train], y[train])
        held.update({id(r): float(p) for r, p, t in zip(reached, fitted.predict_proba(x)[:, 1],
                                                      train) if not t})
    print("with relevance, each stack set scored by a model fitted on the others")
    for name in names + ["all"]:
        part = [r for r in rows if name in ("all", r["set"])]
        cells = [figures(part, lambda r, t=t: r["reached"] and held.get(id(r), 0.0) >= t)
                 for t in THRESHOLDS]
        print(f"{name[:34]:34s} " + " | ".join(f"{a:.3f} {b:.3f} {c:.3f}" for a, b, c in cells))
    stacked = LogisticRegression().fit(x, y)
    a, d = (float(w) for w in stacked.coef_[0])
    return {**check, "features": list(BASE) + ["relevance"],
            "mean": check["mean"] + [round(r_mean, 6)],
            "scale": check["scale"] + [round(r_scale, 6)],
            "weights": [round(a * w, 6) for w in check["weights"]] + [round(d, 6)],
            "bias": round(float(stacked.intercept_[0]) + a * check["bias"], 6),
            "threshold": threshold,
            "relevance_weighed_on": names, "relevance_questions": len(reached)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", default=SETS)
    parser.add_argument("--threshold", type=float, default=0.45)
    parser.add_argument("--stack-on", default="", help="sets the relevance model never saw, "
                        "e.g. v14,v15,v16: the relevance measurement is weighed on them alone")
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
    stack = {f"independent_questions_{v}.yaml" for v in args.stack_on.split(",") if v}
    mean, scale, model = fit([r for r in reached if r["set"] not in stack])
    check = {"features": list(BASE), "mean": mean.round(6).tolist(),
             "scale": scale.round(6).tolist(), "weights": model.coef_[0].round(6).tolist(),
             "bias": round(float(model.intercept_[0]), 6), "threshold": args.threshold,
             "fitted_on": [Path(s).name for s in args.sets if Path(s).name not in stack],
             "questions": len([r for r in reached if r["set"] not in stack])}
    if stack:
        check = with_relevance(check, model, mean, scale,
                               [r for r in rows if r["set"] in stack], args.threshold)
    print(json.dumps(check, indent=1))
    if args.write:
        CHECK_FILE.write_text(json.dumps(check, indent=1) + "\n", encoding="utf-8")
        print(f"written to {CHECK_FILE}")


if __name__ == "__main__":
    main()

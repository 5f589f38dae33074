"""Checks on the test suite itself: it says when browser tests did not run, its assertions can
fail, and it does not copy the questions of the evaluation sets (which would let rules be fitted
to the very sentences that measure them)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
QUESTION_SETS = [*sorted((TESTS / "eval").glob("*.yaml")),
                 REPO / "corpus_src" / "question_inventory.yaml"]


def test_make_test_says_loudly_when_browser_tests_were_skipped(tmp_path):
    """With Chromium hidden (not on PATH, not in CI), the browser tests skip and the run ends
    with a line saying how many, and the command that installs Chromium."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = str(Path(sys.executable).parent)  # the venv's tools, no /usr/bin/chromium
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/test_browser.py"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    skipped = int(re.search(r"(\d+) skipped", run.stdout).group(1))
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                             "-p", "no:cacheprovider", "tests/test_browser.py"], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=300)
    collected = sum("test_browser.py::" in li for li in listed.stdout.splitlines())
    assert skipped == collected > 0
    line = next(li for li in run.stdout.splitlines() if "browser tests were SKIPPED" in li)
    assert line.startswith(f"{skipped} browser tests were SKIPPED: Chromium is not installed")
    assert "sudo apt-get install chromium" in line


def test_the_summary_is_quiet_when_no_browser_test_was_skipped():
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/test_chunking.py"], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0 and " passed" in run.stdout, run.stdout[-3000:]
    assert "browser tests were SKIPPED" not in run.stdout


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def eval_questions() -> dict[str, str]:
    """Normalised question text (longer than 25 characters) -> where it comes from."""
    found: dict[str, str] = {}
    for path in QUESTION_SETS:
        for item in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            if isinstance(item, dict) and isinstance(item.get("question"), str):
                text = _normalise(item["question"])
                if len(text) > 25:
                    found.setdefault(text, f"{path.name} {item.get('id')}")
    return found


def suite_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "fixtures" not in p.parts)


def string_literals(path: Path) -> list[tuple[int, str]]:
    """Every string constant in a Python file (adjacent literals are already joined by the
    parser; f-strings contribute their constant parts)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def copies_of(questions: dict[str, str], literals: list[tuple[int, str]]) -> list[str]:
    return [f"line {line}: {where}" for line, value in literals
            for text in [_normalise(value)] if len(text) > 25
            for question, where in questions.items() if question in text]


def test_the_copy_check_finds_a_copied_question():
    """The check below can fail: a literal holding an eval question (in other case and
    punctuation, inside a longer string) is found, a reworded one is not."""
    questions = eval_questions()
    some, where = next(iter(questions.items()))
    literals = [(1, f"Q: {some.upper()}?!"), (2, "a sentence that is not any question at all")]
    assert copies_of(questions, literals) == [f"line 1: {where}"]


def test_no_test_copies_a_question_from_the_evaluation_sets():
    """Tests that pin behaviour to the exact wording of an evaluation question make the
    evaluation measure the tests' tuning, not generalisation: word test questions differently."""
    questions = eval_questions()
    assert len(questions) > 1000  # the sets were read
    copied = {path.relative_to(REPO).as_posix(): found for path in suite_files()
              if path != Path(__file__) and (found := copies_of(questions, string_literals(path)))}
    assert copied == {}


def vacuous_asserts(source: str) -> list[int]:
    """Lines of assertions that cannot fail: a constant, ``x or True``, ``len(x) >= 0``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Assert):
            continue
        test = node.test
        parts = test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or) else [test]
        always = any(isinstance(p, ast.Constant) and p.value for p in parts)
        always |= (isinstance(test, ast.Compare) and isinstance(test.left, ast.Call)
                   and getattr(test.left.func, "id", "") == "len"
                   and isinstance(test.ops[0], ast.GtE) and isinstance(test.comparators[0], ast.Constant)
                   and test.comparators[0].value == 0)
        if always:
            lines.append(node.lineno)
    return lines


def test_the_vacuous_assert_check_can_fail():
    source = "assert True\nassert x or True\nassert len(y) >= 0\nassert len(y) >= 1\nassert x or y\n"
    assert vacuous_asserts(source) == [1, 2, 3]


def test_no_assertion_is_always_true():
    found = {path.name: lines for path in suite_files()
             if (lines := vacuous_asserts(path.read_text(encoding="utf-8")))}
    assert found == {}

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COMMANDS = ["index", "ask", "status", "serve", "eval", "bench", "rollback"]


def run(args, tmp_path, docs=None, env=None):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    environ.update({"BOT_EMBED_MODEL": "fake", "BOT_INDEX_DIR": str(tmp_path / "index")})
    if docs:
        environ["BOT_DOCS_DIR"] = str(docs)
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                          cwd=REPO, env=environ, timeout=120)


def test_status_and_ask_before_any_index_exit_3(tmp_path):
    status = run(["status"], tmp_path)
    assert status.returncode == 3 and "python -m bot index" in status.stdout
    ask = run(["ask", "hello?"], tmp_path)
    assert ask.returncode == 3
    assert ask.stderr.strip().startswith("Error: No index") and "Traceback" not in ask.stderr


def test_index_ask_status_round_trip(tmp_path, docs):
    (docs / "guidance" / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    built = run(["index", "--json"], tmp_path, docs)
    assert built.returncode == 1, built.stderr  # done, but one input failed
    report = json.loads(built.stdout)
    assert set(report) >= {"version", "added", "updated", "removed", "unchanged", "failed",
                           "warnings", "documents", "chunks", "seconds"}
    assert report["failed"] == [{"source": "guidance/broken.pdf",
                                 "reason": "not a readable PDF: the file is damaged or incomplete"}]
    asked = run(["ask", "--json", "Can I take my phone in?", "Where are the lockers?"], tmp_path)
    assert asked.returncode == 0, asked.stderr
    lines = [json.loads(line) for line in asked.stdout.splitlines()]
    assert len(lines) == 2
    first = lines[0]
    assert set(first) >= {"question", "answer", "grounded", "backend", "citations"}
    assert first["citations"][0]["source"] == "guidance/phones.md"
    assert set(first["citations"][0]) >= {"n", "source", "title", "doc_type", "page", "section",
                                          "quote", "score"}
    status = json.loads(run(["status", "--json"], tmp_path).stdout)
    assert status["documents"] == 4 and status["version"] == report["version"]


def test_dry_run_and_rollback(tmp_path, docs):
    assert run(["index"], tmp_path, docs).returncode == 0
    (docs / "guidance" / "notes.txt").unlink()
    dry = run(["index", "--dry-run"], tmp_path, docs)
    assert "remove guidance/notes.txt" in re.sub(r"\s+", " ", dry.stdout)
    assert run(["index"], tmp_path, docs).returncode == 0
    back = run(["rollback"], tmp_path, docs)
    assert back.returncode == 0 and "is live again" in back.stdout
    nothing = run(["rollback"], tmp_path, docs)
    assert nothing.returncode == 2 and "no earlier index version" in nothing.stderr


@pytest.mark.parametrize("args,needle", [
    (["ask", "--filter", "nonsense", "q"], "KEY=VALUE"),
    (["eval"], "--questions"),
    (["index", "--bogus"], "No such option"),
])
def test_usage_errors_exit_2(tmp_path, args, needle):
    result = run(args, tmp_path)
    assert result.returncode == 2 and needle in result.stderr


def test_wrong_model_fails_fast_with_a_sentence(tmp_path, docs):
    result = run(["index"], tmp_path, docs, env={"BOT_EMBED_MODEL": "./no-such-model"})
    assert result.returncode == 2
    assert "BOT_EMBED_MODEL" in result.stderr and "Traceback" not in result.stderr


def test_every_command_has_help_and_is_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    from click.testing import CliRunner

    from bot.cli import cli

    assert set(COMMANDS) == set(cli.commands), "every command is checked, bench included"
    for command in COMMANDS:
        result = CliRunner().invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output
        assert f"python -m bot {command}" in readme, command


def test_importing_the_cli_stays_light():
    code = ("import sys, bot.cli, bot.wiring, bot.config; heavy = [m for m in "
            "('torch', 'gradio', 'sentence_transformers', 'chromadb') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "[]", out.stderr

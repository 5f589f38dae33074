"""Every evidence summary traces back to the shared fact sheets: its address is there, and every
number it states appears in that study's entry (issue #15). The sheets live in ../shared/domain,
beside the repository, as in CI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.ingest.text import split_front_matter

ROOT = Path(__file__).resolve().parent.parent
EVIDENCE = ROOT / "guidance_docs" / "evidence"
SHEETS = ROOT.parent / "shared" / "domain"


def _entries() -> list[str]:
    """One text per study: the numbered sections of evidence-facts-2.md, the E-entries of
    facts.md."""
    entries = []
    second = (SHEETS / "evidence-facts-2.md").read_text(encoding="utf-8")
    entries += re.split(r"\n(?=## \d+\. )", second)[1:]
    first = (SHEETS / "facts.md").read_text(encoding="utf-8")
    evidence = first.split("## 3. Evidence", 1)[1].split("\n## 4.", 1)[0]
    entries += re.split(r"\n(?=\*\*E\d+\. )", evidence)[1:]
    return entries


@pytest.fixture(scope="module")
def entries() -> list[str]:
    if not (SHEETS / "facts.md").exists():
        pytest.fail(f"The shared fact sheets are missing from {SHEETS}: clone the project with "
                    "../shared beside it, as CI does.")
    return _entries()


def _summaries():
    return sorted(EVIDENCE.glob("*.md"))


def test_the_library_holds_at_least_100_studies():
    assert len(_summaries()) >= 100


@pytest.mark.parametrize("path", _summaries(), ids=lambda p: p.stem)
def test_summary_traces_to_its_fact_sheet_entry(path, entries):
    meta, body, _ = split_front_matter(path.read_text(encoding="utf-8"))
    url = str(meta["url"])
    mine = [e for e in entries if url in e]
    assert mine, f"{path.name}: its url {url} is in no fact-sheet entry"
    text = "\n".join(mine)
    prose = body.split("## Source", 1)[0]  # the addresses listed under Source hold digits too
    numbers = set(re.findall(r"\d+(?:\.\d+)?", prose))
    missing = sorted(n for n in numbers if not re.search(rf"(?<![\d.]){re.escape(n)}(?![\d])",
                                                         text))
    assert not missing, f"{path.name}: numbers not in its fact-sheet entry: {missing}"
    for address in re.findall(r"https?://\S+", body.split("## Source", 1)[-1]):
        assert any(address.rstrip(").,") in e for e in entries), (path.name, address)


def test_summaries_say_where_the_study_was(entries):
    for path in _summaries():
        meta, _, _ = split_front_matter(path.read_text(encoding="utf-8"))
        assert meta.get("country"), path.name

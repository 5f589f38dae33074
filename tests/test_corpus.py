"""The knowledge base itself: counts, front matter and sources, as issue #3 asks."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.ingest.loaders import load_file
from bot.ingest.text import split_front_matter

DOCS = Path(__file__).resolve().parent.parent / "guidance_docs"


def _markdown(folder: str):
    return sorted((DOCS / folder).glob("*.md"))


def test_guidance_documents_have_front_matter_and_sources():
    files = sorted((DOCS / "guidance").iterdir())
    assert len(files) >= 18
    assert len([f for f in files if f.suffix == ".pdf"]) >= 4
    for path in _markdown("guidance"):
        meta, body, warnings = split_front_matter(path.read_text(encoding="utf-8"))
        assert not warnings, path
        for field in ("title", "doc_type", "audience", "settings", "topics", "updated"):
            assert meta.get(field), (path.name, field)
        assert "Sources and further reading" in body, path.name


def test_evidence_summaries_are_complete():
    files = _markdown("evidence")
    assert len(files) >= 24
    fields = ("title", "doc_type", "authors", "organisation", "year", "settings", "art_forms",
              "participants", "method", "outcomes", "evidence_strength", "url", "country")
    for path in files:
        meta, body, _ = split_front_matter(path.read_text(encoding="utf-8"))
        assert meta["doc_type"] == "evidence"
        for field in fields:
            assert field in meta, (path.name, field)
        assert meta["evidence_strength"] in ("strong", "moderate", "limited", "very limited",
                                             "review")
        assert "## Limitations" in body, path.name


def test_pdf_and_docx_guidance_read_with_metadata():
    for path in sorted((DOCS / "guidance").glob("*.pdf")) + sorted(
            (DOCS / "guidance").glob("*.docx")):
        loaded = load_file(path, DOCS)
        assert loaded.metadata["doc_type"] == "guidance"
        assert loaded.metadata.get("settings"), path.name
        if path.suffix == ".pdf":
            assert len(loaded.documents) >= 3, path.name


def test_question_set_shape():
    items = yaml.safe_load((Path(__file__).parent / "eval" / "questions.yaml").read_text())
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids))
    for item in items:
        for source in item.get("expect") or []:
            assert (DOCS / source).exists(), source


def test_question_inventory_is_sourced_and_measurable():
    inventory = yaml.safe_load((DOCS.parent / "corpus_src" / "question_inventory.yaml")
                               .read_text(encoding="utf-8"))
    assert len(inventory) >= 300
    assert len({i["id"] for i in inventory}) == len(inventory)
    for item in inventory:
        assert item["source"].startswith("http") and item["question"].strip(), item["id"]
        assert item["kind"] == "in_scope" and item["must_mention"], item["id"]
        for source in item.get("expect") or []:
            assert (DOCS / source).exists(), (item["id"], source)

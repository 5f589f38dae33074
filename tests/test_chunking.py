from __future__ import annotations

from bot.ingest.chunking import chunk_file
from bot.ingest.loaders import load_file


def test_chunks_follow_headings_and_are_verbatim(docs):
    loaded = load_file(docs / "guidance" / "phones.md", docs)
    chunks = chunk_file(loaded, chunk_size=900, chunk_overlap=100)
    assert [c.section for c in chunks] == ["Can I take my phone in?", "Cameras and recorders"]
    raw = (docs / "guidance" / "phones.md").read_text(encoding="utf-8")
    for chunk in chunks:
        assert chunk.text in raw
        assert "##" not in chunk.text  # never crosses into the next heading
        assert chunk.metadata["setting_prison"] is True


def test_long_sections_are_split_within_the_section(tmp_path):
    body = " ".join(f"Sentence number {i} explains a rule about bringing items in." for i in
                    range(80))
    path = tmp_path / "long.md"
    path.write_text(f"## Items\n\n{body}\n\n## Other\n\nShort section text here.\n",
                    encoding="utf-8")
    chunks = chunk_file(load_file(path, tmp_path), chunk_size=400, chunk_overlap=50)
    items = [c for c in chunks if c.section == "Items"]
    assert len(items) > 3
    assert all(len(c.text) <= 400 for c in items)
    assert chunks[-1].section == "Other"


def test_ids_are_stable_and_change_with_content(docs):
    path = docs / "guidance" / "first-day.md"
    first = [c.id for c in chunk_file(load_file(path, docs), 900, 100)]
    again = [c.id for c in chunk_file(load_file(path, docs), 900, 100)]
    assert first == again
    path.write_text(path.read_text().replace("thirty minutes", "an hour"), encoding="utf-8")
    changed = [c.id for c in chunk_file(load_file(path, docs), 900, 100)]
    assert changed[0] != first[0] and changed[1] == first[1]

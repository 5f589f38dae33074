from __future__ import annotations

import json

import pytest

from bot.errors import IndexBusyError
from bot.ingest.indexer import drive
from tests.helpers import encrypt_pdf, make_docx, make_pdf


def _index(bot, **kw):
    events = []
    report = drive(bot.index(**kw), events.append)
    return report, events


def test_first_index_builds_a_live_version_with_progress(fake_bot):
    report, events = _index(fake_bot)
    assert report.added == 4 and report.failed == []
    assert report.documents == 4 and report.chunks >= 6
    assert {e.stage for e in events} >= {"read", "embed", "store", "check", "done"}
    status = fake_bot.status()
    assert status.ready and status.version == report.version and status.chunks == report.chunks


def test_rerun_with_no_changes_embeds_nothing(indexed_bot):
    report, _ = _index(indexed_bot)
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 0, 0, 4)
    assert report.embedded == 0


def test_edit_delete_and_rename(indexed_bot, docs):
    phones = docs / "guidance" / "phones.md"
    phones.write_text(phones.read_text().replace("criminal offence", "serious offence"))
    (docs / "guidance" / "notes.txt").unlink()
    (docs / "evidence" / "music-study.md").rename(docs / "evidence" / "music.md")
    report, _ = _index(indexed_bot)
    assert report.updated == 1 and report.added == 1 and report.removed == 2
    assert report.embedded == 1  # only the edited passage; the renamed file came from the cache
    sources = indexed_bot.search_index().sources()
    assert "guidance/notes.txt" not in sources and "evidence/music.md" in sources


def test_duplicate_content_is_reported(indexed_bot, docs):
    (docs / "guidance" / "copy.md").write_bytes((docs / "guidance" / "phones.md").read_bytes())
    report, _ = _index(indexed_bot)
    assert any("duplicate" in w["message"] for w in report.warnings)
    assert "guidance/copy.md" not in indexed_bot.search_index().sources()


def test_bad_files_fail_alone(fake_bot, docs, tmp_path):
    plain = make_pdf(tmp_path / "p.pdf", [[("p", "Some text.")]])
    encrypt_pdf(plain, docs / "guidance" / "locked.pdf", user_password="secret")
    (docs / "guidance" / "junk.md").write_bytes(bytes(range(256)) * 10)
    (docs / "guidance" / "image.png").write_bytes(b"\x89PNG")
    report, _ = _index(fake_bot)
    failed = {f.source: f.reason for f in report.failed}
    assert "password" in failed["guidance/locked.pdf"]
    assert "binary" in failed["guidance/junk.md"]
    assert [s.source for s in report.skipped] == ["guidance/image.png"]
    assert report.documents == 4


def test_failed_reparse_keeps_the_previous_version(indexed_bot, docs):
    (docs / "guidance" / "phones.md").write_bytes(b"\x00\x01binary now")
    report, _ = _index(indexed_bot)
    assert report.failed and "guidance/phones.md" in indexed_bot.search_index().sources()


def test_dry_run_changes_nothing(indexed_bot, docs):
    before = indexed_bot.store.read_manifest()
    (docs / "guidance" / "new.md").write_text("## New\n\nA brand new document about keys.\n")
    report, _ = _index(indexed_bot, dry_run=True)
    assert report.changes["add"] == ["guidance/new.md"]
    assert indexed_bot.store.read_manifest() == before


def test_crash_mid_build_leaves_previous_version_live(indexed_bot, docs, monkeypatch):
    live = indexed_bot.store.live().id
    (docs / "guidance" / "new.md").write_text("## New\n\nA brand new document about keys.\n")

    def explode(texts):
        raise RuntimeError("power cut")

    monkeypatch.setattr(indexed_bot.embeddings, "embed_documents", explode)
    with pytest.raises(RuntimeError):
        _index(indexed_bot)
    assert indexed_bot.store.live().id == live
    monkeypatch.undo()
    report, _ = _index(indexed_bot)
    assert report.added == 1
    versions = sorted(p.name for p in (indexed_bot.settings.index_dir / "versions").iterdir())
    assert versions == sorted(v.id for v in indexed_bot.store.versions())  # half-built cleaned


def test_lock_refuses_a_second_reindex(indexed_bot):
    with indexed_bot.store.lock():
        with pytest.raises(IndexBusyError) as err:
            _index(indexed_bot)
    assert "Another reindex is running" in err.value.message


def test_stale_lock_is_taken_over(indexed_bot):
    lock = indexed_bot.settings.index_dir / "reindex.lock"
    import socket

    lock.write_text(json.dumps({"pid": 999999, "host": socket.gethostname(), "since": "x"}))
    report, _ = _index(indexed_bot)
    assert report.unchanged == 4 and not lock.exists()


def test_chunk_setting_change_rebuilds(indexed_bot):
    indexed_bot.settings.chunk_size = 300
    report, _ = _index(indexed_bot)
    assert report.updated == 4 and indexed_bot.store.live().chunking["chunk_size"] == 300
    assert any("rebuilt" in w["message"] for w in report.warnings)


def test_rollback_restores_previous_version(indexed_bot, docs):
    first = indexed_bot.store.live().id
    (docs / "guidance" / "notes.txt").unlink()
    _index(indexed_bot)
    assert indexed_bot.rollback().id == first
    assert "guidance/notes.txt" in indexed_bot.search_index().sources()


def test_sentences_are_embedded_at_indexing_and_answers_look_them_up(fake_bot, monkeypatch):
    """Every passage's sentences are embedded once, when the version is built, and stored in the
    embedding cache; answering a question then embeds the question only, never its sentences."""
    from bot.ingest.sentences import sentence_texts

    report, events = _index(fake_bot)
    assert "sentences" in {e.stage for e in events}
    index = fake_bot.search_index()
    texts = [t for doc in index.collection.get(include=["documents"])["documents"]
             for t in sentence_texts(doc)]
    cache = fake_bot.cache()
    assert set(cache.get_many([cache.key(t) for t in texts])) == {cache.key(t) for t in texts}
    fake_bot.ask("Can I take my mobile phone into the prison?")  # scope embeds its areas once
    embedded: list[list[str]] = []
    real = fake_bot.embeddings.embed_documents
    monkeypatch.setattr(fake_bot.embeddings, "embed_documents",
                        lambda batch: embedded.append(list(batch)) or real(batch))
    answer = fake_bot.ask("Can I take my mobile phone into the prison?")
    assert answer.grounded and embedded == []
    fake_bot.extractive.cache = None  # without the cache the same answer embeds its sentences
    again = fake_bot.ask("Can I take my mobile phone into the prison?")
    assert again.text == answer.text and embedded


def test_staff_phrasings_under_a_heading_are_matched_like_the_heading(fake_bot, docs):
    """Staff may add other ways of asking a section's question as a Markdown comment under its
    heading: readers never see it, and the search matches a question against it as against the
    heading (the fake embedder gives a text and the same question the same vector)."""
    asked = "when do my clearance papers come back"
    (docs / "guidance" / "zz-clearance.md").write_text(
        "---\ntitle: Clearance notes\n---\n\n## How long does vetting take?\n\n"
        f"<!-- also asked: {asked} | can vetting be hurried? -->\n"
        "Vetting usually takes several weeks from the day the forms are in.\n\n"
        "## What is a key pouch?\n\nA pouch on a belt chain that holds prison keys.\n",
        encoding="utf-8")
    drive(fake_bot.index())
    index = fake_bot.search_index()
    rows = [r for r, m in enumerate(index.metadatas) if m["source"] == "guidance/zz-clearance.md"]
    vetting = next(r for r in rows if index.metadatas[r]["section"] == "How long does vetting take?")
    keys = next(r for r in rows if index.metadatas[r]["section"] == "What is a key pouch?")
    assert index.metadatas[vetting]["also_asked"] == f"{asked} | can vetting be hurried?"
    assert "also asked" not in index.texts[vetting] and "<!--" not in index.texts[vetting]
    assert "also_asked" not in index.metadatas[keys]
    vector = fake_bot.embeddings.embed_query(asked)
    scores = index.similarities(vector, [vetting, keys], headings=True)
    assert scores[vetting] > 0.99 > scores[keys]
    # the heading ranking puts that section first; the answer check sees its heading as a match
    only = {"source": "guidance/zz-clearance.md"}
    assert index.dense(vector, 2, only, scores=index.heading_scores(vector))[0][0] == vetting
    hits = fake_bot.retriever().search(asked, filters=only)
    found = {h.metadata["section"]: h.metadata["heading_score"] for h in hits}
    assert found["How long does vetting take?"] > 0.99 > found["What is a key pouch?"]


def _rows(bot, source):
    index = bot.search_index()
    return index, {index.metadatas[r]["section"]: r for r, m in enumerate(index.metadatas)
                   if m["source"] == source}


def test_a_phrasings_file_gives_pdf_and_word_sections_other_phrasings(fake_bot, docs):
    """A PDF or Word file cannot carry the Markdown comment: staff keep its sections' other
    phrasings in a YAML file beside it, and they are matched as the comment's are."""
    make_pdf(docs / "guidance" / "keys.pdf", [[
        ("h1", "Keys handbook"), ("h2", "Will I be given keys?"),
        ("p", "Artists who work alone are usually trained to carry keys."),
        ("h2", "What if I lose a key?"), ("p", "Tell the gate at once: the locks may be changed.")]])
    (docs / "guidance" / "keys.pdf.also-asked.yaml").write_text(
        "Will I be given keys?:\n  - do artists carry their own keys\n  - key training\n",
        encoding="utf-8")
    make_docx(docs / "guidance" / "gate.docx", "Gate guide",
              [("What ID do I need at the gate?", "Bring photo ID every time you come in.")])
    (docs / "guidance" / "gate.docx.also-asked.yaml").write_text(
        "What ID do I need at the gate?: [which documents do I show on arrival]\n",
        encoding="utf-8")
    report, _ = _index(fake_bot)
    assert report.failed == [] and not report.skipped, (report.failed, report.skipped)
    index, pdf = _rows(fake_bot, "guidance/keys.pdf")
    assert index.metadatas[pdf["Will I be given keys?"]]["also_asked"] == \
        "do artists carry their own keys | key training"
    assert "also_asked" not in index.metadatas[pdf["What if I lose a key?"]]
    _, word = _rows(fake_bot, "guidance/gate.docx")
    row = word["What ID do I need at the gate?"]
    assert index.metadatas[row]["also_asked"] == "which documents do I show on arrival"
    vector = fake_bot.embeddings.embed_query("do artists carry their own keys")
    scores = index.similarities(vector, [pdf["Will I be given keys?"], pdf["What if I lose a key?"]],
                                headings=True)
    assert scores[pdf["Will I be given keys?"]] > 0.99 > scores[pdf["What if I lose a key?"]]
    # editing only the phrasings reindexes the document
    (docs / "guidance" / "keys.pdf.also-asked.yaml").write_text(
        "What if I lose a key?: [i dropped my keys]\n", encoding="utf-8")
    report, _ = _index(fake_bot)
    assert report.updated == 1 and report.unchanged >= 4
    index, pdf = _rows(fake_bot, "guidance/keys.pdf")
    assert index.metadatas[pdf["What if I lose a key?"]]["also_asked"] == "i dropped my keys"
    assert "also_asked" not in index.metadatas[pdf["Will I be given keys?"]]


@pytest.mark.parametrize(("content", "warning"), [
    ("Will I be given keys?: [ok\n  - : :", "not valid YAML (line"),
    ("- just a list\n", "should map each heading"),
    ("Where is the car park?: [by the gate]\n", "no heading 'Where is the car park?'"),
    (b"\xff\xfe\x00bad", "not UTF-8"),
])
def test_a_bad_phrasings_file_is_reported_and_the_document_still_indexed(
        fake_bot, docs, content, warning):
    make_pdf(docs / "guidance" / "keys.pdf", [[
        ("h2", "Will I be given keys?"), ("p", "Artists are usually trained to carry keys.")]])
    side = docs / "guidance" / "keys.pdf.also-asked.yaml"
    side.write_bytes(content if isinstance(content, bytes) else content.encode())
    report, _ = _index(fake_bot)
    assert report.failed == []
    assert "guidance/keys.pdf" in fake_bot.search_index().sources()
    messages = [w["message"] for w in report.warnings if w["source"] == "guidance/keys.pdf"]
    assert any(warning in m and "keys.pdf.also-asked.yaml" in m for m in messages), messages


def test_a_phrasings_file_without_its_document_is_reported(fake_bot, docs):
    (docs / "guidance" / "gone.pdf.also-asked.yaml").write_text("A?: [b]\n", encoding="utf-8")
    report, _ = _index(fake_bot)
    skipped = {f.source: f.reason for f in report.skipped}
    assert "gone.pdf" in skipped["guidance/gone.pdf.also-asked.yaml"]
    assert report.failed == []

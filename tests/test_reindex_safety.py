"""A reindex must never break the live index: a killed rebuild, questions asked during a rebuild,
a change of embedding model, and a folder of awkward real-world PDFs.

All with the fast fake embedder; the subprocess tests run the real ``python -m bot`` CLI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.config import Settings
from bot.errors import ConfigError
from bot.ingest.indexer import drive
from bot.models.embeddings import HashingEmbeddings
from bot.store import EmbeddedStore
from bot.wiring import build_bot
from tests.helpers import (
    DEJAVU,
    attach_to_pdf,
    encrypt_pdf,
    make_form_pdf,
    make_image_pdf,
    make_markdown_corpus,
    make_pdf,
    make_unicode_pdf,
    rotate_pdf,
    truncate_file,
)

REPO = Path(__file__).resolve().parent.parent
PHONE_QUESTION = "Can I take my phone into the prison?"

# Loaded into the child process (as sitecustomize) by the kill test: once the half-built version
# has stored its first batch of passages, the child waits there instead of going on to publish.
# The test still kills as soon as it sees the new version folder; the hold only guarantees that,
# however slow or loaded the machine, the child cannot finish (and publish) before that kill.
HOLD_HOOK = '''\
import os

if os.environ.get("REINDEX_TEST_HOLD"):
    import time

    from bot import store as _store
    _create_collection = _store.EmbeddedStore.create_collection

    class _Held:
        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            return getattr(self._inner, name)

        def add(self, **kwargs):
            self._inner.add(**kwargs)
            time.sleep(120)  # the test kills this process long before

    def create_collection(self, version_id):
        return _Held(_create_collection(self, version_id))

    _store.EmbeddedStore.create_collection = create_collection
'''


def _env(docs: Path, index: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update({"BOT_EMBED_MODEL": "fake", "BOT_DOCS_DIR": str(docs), "BOT_INDEX_DIR": str(index)})
    env.update(extra)
    return env


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120)


def _version_dirs(index: Path) -> set[str]:
    base = index / "versions"
    return {p.name for p in base.iterdir()} if base.is_dir() else set()


def _assert_tidy(index: Path) -> None:
    """Nothing half-written: only the versions the manifest names are on disk, each complete,
    and no lock or temporary file is left."""
    store = EmbeddedStore(index)
    manifest = store.read_manifest()
    assert _version_dirs(index) == {v["id"] for v in manifest["versions"]}
    assert not (index / "reindex.lock").exists()
    assert not list(index.glob(".*.tmp")) and not list(index.glob("versions/*/.*.tmp"))
    live = store.require_live()
    registry = store.read_registry(live.id)
    ids = set(store.collection(live.id).get(include=[])["ids"])
    assert len(registry) == live.documents
    assert ids == {cid for entry in registry.values() for cid in entry["chunks"]}
    assert len(ids) == live.chunks


# -- 1. a rebuild killed with SIGKILL -------------------------------------------------------------


def test_killed_full_rebuild_leaves_the_previous_version_live(tmp_path, docs):
    index = tmp_path / "index"
    make_markdown_corpus(docs / "guidance" / "generated", files=200, sections=6)
    first = drive(build_bot(Settings(docs_dir=docs, index_dir=index, embed_model="fake")).index())
    assert first.failed == [] and first.chunks > 1000  # more than one store batch to write
    manifest_before = (index / "manifest.json").read_bytes()
    known = {v["id"] for v in json.loads(manifest_before)["versions"]}
    # The rebuild will see new text, so the test can tell the two versions apart.
    phones = docs / "guidance" / "phones.md"
    phones.write_text(phones.read_text().replace("You must not take", "You must never take"))

    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOLD_HOOK)
    env = _env(docs, index, REINDEX_TEST_HOLD="1",
               PYTHONPATH=os.pathsep.join([str(hook), str(REPO)]))
    with (tmp_path / "child.out").open("w") as out, (tmp_path / "child.err").open("w") as err:
        child = subprocess.Popen([sys.executable, "-m", "bot", "index", "--full"], cwd=REPO,
                                 env=env, stdout=out, stderr=err)
        try:
            deadline = time.monotonic() + 90
            half_built: set[str] = set()
            while not half_built:
                assert child.poll() is None, (
                    f"the rebuild ended (exit {child.returncode}) before it could be killed: "
                    + (tmp_path / "child.err").read_text())
                assert time.monotonic() < deadline, "no new version folder appeared"
                half_built = _version_dirs(index) - known
                time.sleep(0.005)
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()  # no-op when already dead; never leave it running
            child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert "sitecustomize" not in (tmp_path / "child.err").read_text()  # the hold was in place

    # The crash changed nothing that questions read.
    assert (index / "manifest.json").read_bytes() == manifest_before
    assert half_built <= _version_dirs(index)  # the half-built version is still lying there
    lock = json.loads((index / "reindex.lock").read_text())
    assert lock["pid"] == child.pid  # and the dead process's lock with it

    asked = _cli(["ask", "--json", PHONE_QUESTION], _env(docs, index))
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["grounded"] and answer["citations"], answer
    assert answer["citations"][0]["source"] == "guidance/phones.md"
    old_passages = EmbeddedStore(index).collection(first.version).get(include=["documents"])
    for citation in answer["citations"]:
        assert any(citation["quote"] in text for text in old_passages["documents"]), citation
    assert "must never take" not in asked.stdout  # the text only the killed rebuild had read

    rerun = _cli(["index", "--json"], _env(docs, index))
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["updated"] == 1 and report["failed"] == []  # the crash did not spoil the registry
    assert report["unchanged"] == first.documents - 1
    assert not half_built & _version_dirs(index)  # cleaned up
    manifest = EmbeddedStore(index).read_manifest()
    assert manifest["live"] == report["version"]
    assert [v["id"] for v in manifest["versions"]] == [report["version"], first.version]
    _assert_tidy(index)


# -- 2. questions while a reindex runs ------------------------------------------------------------


def test_questions_during_reindex_get_answers_from_one_version(fake_bot, docs, monkeypatch):
    make_markdown_corpus(docs / "guidance" / "generated", files=30, sections=4)
    first = drive(fake_bot.index())
    published = {first.version}
    phones = docs / "guidance" / "phones.md"
    original_text = phones.read_text()
    marker = "written authorisation"
    assert marker in original_text

    used = []  # the SearchIndex each question was answered from
    search_index = fake_bot.search_index

    def recording_search_index():
        loaded = search_index()
        used.append(loaded)
        return loaded

    monkeypatch.setattr(fake_bot, "search_index", recording_search_index)

    asked = 0
    turn = threading.Condition()
    finished = threading.Event()
    failures: list[BaseException] = []

    def wait_for_a_question(event) -> None:
        # While it writes the new version and right after publishing it, the reindex waits until
        # one more question has been answered, so questions and writes always interleave.
        if event.stage not in ("store", "check"):
            return
        with turn:
            target = asked + 1
            turn.wait_for(lambda: asked >= target or finished.is_set(), timeout=30)

    def reindex() -> None:
        try:
            for edition in range(1, 5):  # five versions in all: the oldest are dropped on publish
                phones.write_text(original_text.replace(marker, f"{marker} (rule edition {edition})"))
                report = drive(fake_bot.index(full=True), wait_for_a_question)
                assert report.failed == []
                published.add(report.version)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
        finally:
            finished.set()
            with turn:
                turn.notify_all()

    worker = threading.Thread(target=reindex, name="reindex", daemon=True)
    answers = []
    worker.start()
    try:
        while not finished.is_set():
            used.clear()
            answer = fake_bot.ask(PHONE_QUESTION)
            answers.append((answer, used[-1]))
            with turn:
                asked += 1
                turn.notify_all()
    finally:
        finished.set()
        with turn:
            turn.notify_all()
        worker.join(timeout=60)
    assert not worker.is_alive()
    if failures:
        raise failures[0]

    assert len(answers) >= 4 * 3  # at least one per store batch and two per check, per rebuild
    for answer, loaded in answers:
        assert loaded.version_id in published
        assert answer.grounded and answer.citations, answer
        assert any(c.source == "guidance/phones.md" for c in answer.citations)
        for citation in answer.citations:  # every quote is from the version it was answered from
            assert any(citation.quote in text for text in loaded.texts), (citation, loaded.version_id)
    assert len({loaded.version_id for _, loaded in answers}) >= 2  # it did switch versions
    assert fake_bot.search_index().version_id == fake_bot.store.live().id
    _assert_tidy(fake_bot.settings.index_dir)


# -- 3. a different embedding model ---------------------------------------------------------------


class OtherModel(HashingEmbeddings):
    """The fake embedder with another dimension, posing as a different model."""

    model_key = "fake-hashing-128-v1"


def test_model_change_rebuilds_everything_with_the_new_dimension(indexed_bot, settings):
    before = indexed_bot.store.live()
    assert before.dimension == 256
    other = build_bot(settings, embeddings=OtherModel(dimension=128))

    report = drive(other.index())  # incremental: the model change alone forces the rebuild
    assert report.failed == []
    assert any("rebuilt" in w["message"] for w in report.warnings), report.warnings
    assert report.updated == before.documents and report.unchanged == 0
    assert report.embedded > 0  # the cache is per model: nothing of the old vectors was reused

    live = other.store.live()
    assert live.id == report.version != before.id
    assert (live.model, live.dimension) == ("fake-hashing-128-v1", 128)
    manifest = other.store.read_manifest()
    entries = {v["id"]: v for v in manifest["versions"]}
    assert manifest["live"] == live.id and entries[live.id]["dimension"] == 128
    assert entries[before.id]["dimension"] == 256  # the old version is kept for rollback
    probe = other.store.collection(live.id).get(limit=1, include=["embeddings"])
    assert len(probe["embeddings"][0]) == 128

    answer = other.ask(PHONE_QUESTION)
    assert answer.grounded and answer.citations[0].source == "guidance/phones.md"
    again = drive(other.index())  # and the next run is incremental again, with no warning
    assert again.unchanged == before.documents and again.embedded == 0
    assert not any("rebuilt" in w["message"] for w in again.warnings)
    _assert_tidy(settings.index_dir)


def test_a_live_version_from_another_model_gives_a_clear_error(indexed_bot, settings):
    other = build_bot(settings, embeddings=OtherModel(dimension=128))
    drive(other.index())
    _refuses_to_search(indexed_bot, built_with="fake-hashing-128-v1", uses="fake-hashing-v1")
    assert other.ask(PHONE_QUESTION).grounded  # the new model on its own version
    other.rollback()
    _refuses_to_search(other, built_with="fake-hashing-v1", uses="fake-hashing-128-v1")
    assert indexed_bot.ask(PHONE_QUESTION).grounded  # the old model on its own version again


def _refuses_to_search(bot, built_with: str, uses: str) -> None:
    """Never a Chroma dimension error, and never an answer searched with the wrong model's
    vectors: one sentence naming both models and what to run."""
    with pytest.raises(ConfigError) as err:
        bot.ask(PHONE_QUESTION)
    assert f"built with the embedding model '{built_with}'" in err.value.message
    assert f"this app uses '{uses}'" in err.value.message
    assert "python -m bot index" in err.value.message


# -- 4. awkward real-world PDFs -------------------------------------------------------------------

LEAFLET = "Visiting artists must carry photo identification and follow the escort rules at all times."
HEBREW = "שלום לאמנים המבקרים בכלא"


def _awkward_pdfs(folder: Path, scratch: Path) -> dict[str, str | None]:
    """Builds the folder; returns for each file the phrase its passages must contain, or None
    for the files that cannot be read."""
    folder.mkdir(parents=True)
    scratch.mkdir()
    expect: dict[str, str | None] = {}

    make_form_pdf(folder / "form.pdf", ["Volunteer application form",
                                        "Full name of the visiting artist:",
                                        "Date of the first workshop session:"],
                  {"full_name": "Ada Lovelace", "session_date": "2026-03-01"})
    expect["form.pdf"] = "Full name of the visiting artist"

    make_image_pdf(folder / "scan.pdf")
    expect["scan.pdf"] = None
    make_image_pdf(folder / "half-scanned.pdf", text_before=LEAFLET)
    expect["half-scanned.pdf"] = "photo identification"

    upright = make_pdf(scratch / "upright.pdf", [[
        ("h1", "Keys"), ("p", "Keys must never leave the prison and are returned after each session.")]])
    rotate_pdf(upright, folder / "rotated.pdf", 90)
    expect["rotated.pdf"] = "Keys must never leave the prison"

    if DEJAVU.exists():
        make_unicode_pdf(folder / "hebrew.pdf", ["Guidance for visiting artists, in Hebrew.", HEBREW])
        expect["hebrew.pdf"] = "in Hebrew"

    leaflet = make_pdf(scratch / "leaflet.pdf", [[("h1", "Safeguarding"), (
        "p", "Read the safeguarding checklist before every session with young people.")]])
    attach_to_pdf(leaflet, folder / "with-attachment.pdf", "checklist.txt",
                  b"Attached checklist: sign in at the gate.")
    expect["with-attachment.pdf"] = "safeguarding checklist"

    vetting = make_pdf(scratch / "vetting.pdf", [[("h1", "Vetting"), (
        "p", "Security vetting usually takes six to eight weeks for visiting artists.")]])
    encrypt_pdf(vetting, folder / "aes-no-password.pdf", user_password="", algorithm="AES-256")
    expect["aes-no-password.pdf"] = "six to eight weeks"
    encrypt_pdf(vetting, folder / "locked.pdf", user_password="s3cret", algorithm="AES-256")
    expect["locked.pdf"] = None

    long = make_pdf(scratch / "long.pdf", [[("h1", f"Chapter {n}"), ("p", LEAFLET * 4)]
                                            for n in range(1, 7)])
    truncate_file(long, folder / "truncated.pdf", 0.5)
    expect["truncated.pdf"] = None
    return expect


def test_awkward_pdfs_index_what_can_be_read_and_report_the_rest(tmp_path):
    docs = tmp_path / "docs"
    index = tmp_path / "index"
    expect = _awkward_pdfs(docs / "guidance", tmp_path / "scratch")

    result = _cli(["index", "--json"], _env(docs, index))
    assert result.returncode == 1, result.stderr  # done, but some input failed
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)

    failed = {f["source"].removeprefix("guidance/"): f["reason"] for f in report["failed"]}
    assert set(failed) == {name for name, phrase in expect.items() if phrase is None}
    assert "password" in failed["locked.pdf"]
    assert "OCR" in failed["scan.pdf"]
    assert "damaged or incomplete" in failed["truncated.pdf"]
    for reason in failed.values():  # one plain sentence each, no exception text
        assert reason and "\n" not in reason and "Error" not in reason and "Traceback" not in reason
    warnings = {(w["source"], w["message"]) for w in report["warnings"]}
    assert ("guidance/half-scanned.pdf", "page 2 has no text (a scanned image? it needs OCR)") in warnings

    readable = {name: phrase for name, phrase in expect.items() if phrase is not None}
    assert report["documents"] == report["added"] == len(readable)
    store = EmbeddedStore(index)
    live = store.require_live()
    assert live.id == report["version"]
    got = store.collection(live.id).get(include=["documents", "metadatas"])
    by_source: dict[str, list[str]] = {}
    for text, meta in zip(got["documents"], got["metadatas"]):
        by_source.setdefault(meta["source"].removeprefix("guidance/"), []).append(text)
    assert set(by_source) == set(readable)
    for name, phrase in readable.items():
        assert any(phrase in text for text in by_source[name]), (name, by_source[name])
    if "hebrew.pdf" in readable:  # the Hebrew letters themselves reach the index
        assert set(HEBREW.replace(" ", "")) <= set("".join(by_source["hebrew.pdf"]))
    _assert_tidy(index)

    again = _cli(["index", "--json"], _env(docs, index))  # a rerun retries only the failures
    assert again.returncode == 1
    second = json.loads(again.stdout)
    assert second["unchanged"] == len(readable) and second["embedded"] == 0
    assert {f["source"] for f in second["failed"]} == {f["source"] for f in report["failed"]}
    _assert_tidy(index)


@pytest.mark.skipif(not DEJAVU.exists(), reason="no DejaVu font to write Hebrew with")
def test_right_to_left_pdf_text_is_indexed_in_reading_order(tmp_path):
    from bot.ingest.loaders import load_file

    path = make_unicode_pdf(tmp_path / "docs" / "hebrew.pdf", ["Shalom:", HEBREW])
    loaded = load_file(path, tmp_path / "docs")
    assert HEBREW in loaded.documents[0].page_content


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to list open files")
def test_dropped_versions_release_their_files(fake_bot):
    for _ in range(fake_bot.settings.keep_versions + 2):
        drive(fake_bot.index(full=True))
        fake_bot.ask(PHONE_QUESTION)
    root = str(fake_bot.settings.index_dir.resolve())
    leaked = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(root) and target.endswith("(deleted)"):
            leaked.append(target)
    assert leaked == []

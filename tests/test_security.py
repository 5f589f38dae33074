"""Attacks against a real server on loopback (docs/security.md): each test performs the attack
itself, then checks that it was refused and that the server still answers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from tests.helpers import copy_corpus, gradio_event, make_pdf, running_app

PASSWORD = "staff-secret-for-tests"
SECRET = "TOP-SECRET-7d1e"
PHONE = "Can I take my mobile phone in?"


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """A server file no client may read."""
    path = tmp_path_factory.mktemp("outside") / "secret.txt"
    path.write_text(f"password={SECRET}\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory, outside):
    base = tmp_path_factory.mktemp("attacks")
    docs = copy_corpus(base / "docs")
    # a link out of the documents folder, and a loop: neither may be indexed or served
    (docs / "guidance" / "linked-secret.md").symlink_to(outside)
    (docs / "guidance" / "loop-a.md").symlink_to(docs / "guidance" / "loop-b.md")
    (docs / "guidance" / "loop-b.md").symlink_to(docs / "guidance" / "loop-a.md")
    make_pdf(docs / "guidance" / "handbook.pdf", [[("h1", "Handbook"), (
        "p", "Handbooks are served to readers one page at a time.")]])
    with running_app(base, docs, BOT_STAFF_PASSWORD=PASSWORD) as url:
        yield url, docs


def file_data(path: str, name: str = "notes.md") -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": name}


def still_answers(url: str) -> None:
    reply = httpx.post(f"{url}/api/ask", json={"question": PHONE}, timeout=30)
    assert reply.status_code == 200 and reply.json()["grounded"]


@pytest.mark.parametrize("target", ["outside", "/dev/zero", "/proc/self/environ"])
def test_chat_history_cannot_name_a_server_file(server, outside, target):
    url, _ = server
    path = str(outside) if target == "outside" else target
    history = [{"role": "user", "content": [{"file": file_data(path), "alt_text": None}]}]
    # the chat event as a client could send it, with a file reference where history would go
    message = gradio_event(url, [PHONE, history, "any", "any"], api_name="chat", timeout=20)
    text = json.dumps(message)
    assert SECRET not in text and "gradio_api/file=" not in text
    assert PASSWORD not in text
    still_answers(url)


def conversation_id(url: str) -> int:
    config = httpx.get(f"{url}/config", timeout=10).json()
    return next(c["id"] for c in config["components"]
                if c.get("props", {}).get("elem_id") == "conversation")


def hostile_saves(outside: Path) -> list:
    """Conversations a hostile page could put where the browser keeps the real one."""
    turn = {"question": "<img src=x onerror=\"window.__pwned=1\">", "grounded": True,
            "answer": "<script>window.__pwned=1</script> The password is here [1] [2] [3].",
            "citations": [{"n": 1, "source": str(outside), "quote": "password"},
                          {"n": 2, "source": "../../../../etc/passwd", "quote": "root"},
                          {"n": 3, "source": "/proc/self/environ", "quote": "BOT_"}]}
    return [file_data(str(outside)),
            {"version": 1, "turns": [{**turn, "question": file_data(str(outside))}]},
            {"version": 1, "turns": [{**turn, "citations": [file_data("/proc/self/environ")]}]},
            {"version": 1, "turns": [turn]}]


def test_a_conversation_kept_in_the_browser_is_checked_and_only_shown(server, outside):
    url, _ = server
    for kept in hostile_saves(outside):
        # the page-load event that restores the conversation, sent with a forged copy
        message = gradio_event(url, [kept], inputs=["browserstate"], timeout=20)
        text = json.dumps(message)
        assert SECRET not in text and "gradio_api/file=" not in text and "root:" not in text
        assert "<img" not in text and "<script" not in text and "source-card" not in text
        if message.get("success"):
            conversation = message["output"]["data"][0]
            assert "&lt;img" in conversation or "empty-chat" in conversation
    still_answers(url)


@pytest.mark.parametrize("request_data", [
    "outside", {"source": "../../../../etc/passwd", "quote": "root"},
    {"source": "/proc/self/environ"}, {"source": "guidance/linked-secret.md"},
    {"source": "guidance/phones.md", "page": "1; rm -rf /"}, ["guidance/phones.md"],
    {"source": file_data("/proc/self/environ")}, {"source": "guidance/loop-a.md"},
])
def test_the_passage_viewer_opens_only_documents_of_the_library(server, outside, request_data):
    url, _ = server
    if request_data == "outside":
        request_data = {"source": str(outside), "quote": "password"}
    reply = httpx.post(f"{url}/gradio_api/component_server", timeout=20, json={
        "data": request_data, "component_id": conversation_id(url), "fn_name": "passage",
        "session_hash": "attacker"})
    assert SECRET not in reply.text and "root:" not in reply.text and "BOT_" not in reply.text
    assert reply.status_code < 500
    good = httpx.post(f"{url}/gradio_api/component_server", timeout=20, json={
        "data": {"source": "guidance/phones.md", "quote": "Taking a phone in without "
                 "authorisation can be a criminal offence.", "n": 1},
        "component_id": conversation_id(url), "fn_name": "passage", "session_hash": "reader"})
    assert "<mark id='cited' class='cited'>Taking a phone in" in good.json()
    for name in ("postprocess", "preprocess", "__init__", "get_config"):  # nothing else is callable
        other = httpx.post(f"{url}/gradio_api/component_server", timeout=20, json={
            "data": None, "component_id": conversation_id(url), "fn_name": name,
            "session_hash": "attacker"})
        assert other.status_code == 404


@pytest.mark.parametrize("event", [
    {"question": file_data("/proc/self/environ")}, {"question": ["a", "b"]},
    {"question": "x" * 100000}, {"turn": file_data("/etc/passwd"), "value": "helpful"},
    {"turn": 10**12, "value": "helpful"}, {"turn": 1, "value": "<script>x()</script>"}, None,
    "text",
])
def test_page_events_with_forged_data_change_nothing(server, event):
    url, _ = server
    for inputs, data in ((["state", "dropdown", "radio"], [None, "any", "any"]),
                         (["state"], [None])):  # a related question; feedback
        message = gradio_event(url, data, inputs=inputs, timeout=20, event_data=event)
        text = json.dumps(message)
        assert "BOT_" not in text and "gradio_api/file=" not in text and "Traceback" not in text
    still_answers(url)


@pytest.mark.parametrize("target", ["outside", "/dev/zero"])
def test_staff_upload_field_cannot_name_a_server_file(server, outside, target):
    url, docs = server
    path = str(outside) if target == "outside" else target
    message = gradio_event(url, [PASSWORD, file_data(path), "guidance", True],
                           inputs=["textbox", "file", "radio", "checkbox"], timeout=20)
    assert message["success"] is False
    assert "not uploaded by a user" in message["output"]["error"]
    assert not (docs / "guidance" / "notes.md").exists()
    still_answers(url)


def _stream(total_mb: int, prefix: bytes = b""):
    yield prefix
    for _ in range(total_mb):
        yield b"x" * (1024 * 1024)


@pytest.mark.parametrize("path,headers,prefix", [
    ("/api/ask", {"content-type": "application/json"}, b""),
    ("/gradio_api/queue/join", {"content-type": "application/json"}, b""),
    ("/gradio_api/upload", {"content-type": "multipart/form-data; boundary=XX"},
     b'--XX\r\nContent-Disposition: form-data; name="files"; filename="a.pdf"\r\n'
     b"Content-Type: application/pdf\r\n\r\n"),
])
def test_chunked_oversize_bodies_are_refused_while_streaming(server, path, headers, prefix):
    url, _ = server
    # a generator body is sent chunked, with no Content-Length to check
    reply = httpx.post(f"{url}{path}", content=_stream(60, prefix), headers=headers, timeout=60)
    assert reply.status_code == 413
    assert "too large" in reply.text.lower() or "exceeded" in reply.text.lower()
    gradio_tmp = Path(os.environ.get("GRADIO_TEMP_DIR", "/tmp/gradio"))
    if gradio_tmp.is_dir():  # a refused upload leaves no temporary file behind
        assert not [p for p in gradio_tmp.iterdir() if p.is_file() and p.stat().st_size > 10**7]
    still_answers(url)


def test_a_5mb_staff_upload_goes_through_the_real_upload_route(server, tmp_path):
    url, docs = server
    pdf = make_pdf(tmp_path / "big-handbook.pdf", [[("h1", "Big handbook"), (
        "p", "Large handbooks with pictures must still upload through the staff area.")]])
    data = pdf.read_bytes() + b"%" + os.urandom(5 * 1024 * 1024)  # padding after %%EOF
    upload = httpx.post(f"{url}/gradio_api/upload", timeout=60,
                        files={"files": ("big-handbook.pdf", data, "application/pdf")})
    assert upload.status_code == 200, upload.text
    cached = upload.json()[0]
    message = gradio_event(url, [PASSWORD, file_data(cached, "big-handbook.pdf"), "guidance",
                                 False], inputs=["textbox", "file", "radio", "checkbox"])
    assert "Added guidance/big-handbook.pdf" in json.dumps(message["output"])
    assert (docs / "guidance" / "big-handbook.pdf").stat().st_size == len(data)
    assert not Path(cached).exists()  # the framework's copy is cleaned up


def test_password_guessing_is_throttled_and_logged(tmp_path):
    from bot.web.staff import MAX_FAILURES, StaffError, Throttle

    now = [1000.0]
    throttle = Throttle(clock=lambda: now[0])
    for _ in range(MAX_FAILURES):
        with pytest.raises(StaffError, match="Wrong staff password"):
            throttle.check("right", "guess")
    with pytest.raises(StaffError, match="Too many wrong staff passwords"):
        throttle.check("right", "right")  # locked: even the right one waits
    now[0] += 16 * 60
    throttle.check("right", "right")


def test_password_guessing_against_the_server_is_locked_out(tmp_path):
    base = tmp_path
    with running_app(base, copy_corpus(base / "docs"), BOT_STAFF_PASSWORD=PASSWORD) as url:
        results = [gradio_event(url, [f"guess-{i}"], inputs=["textbox"], timeout=20)
                   for i in range(7)]
        last = json.dumps(results[-1]["output"])
        assert "Too many wrong staff passwords" in last
        right = gradio_event(url, [PASSWORD], inputs=["textbox"], timeout=20)
        assert "Too many wrong staff passwords" in json.dumps(right["output"])


def test_unknown_event_ids_get_a_sentence_not_a_traceback(server):
    url, _ = server
    reply = httpx.post(f"{url}/gradio_api/queue/join", timeout=10,
                       json={"data": [], "fn_index": 99999, "session_hash": "x"})
    assert reply.status_code >= 400 and "Traceback" not in reply.text
    still_answers(url)


def test_symlinks_out_of_the_folder_are_skipped_and_reported(server):
    url, _ = server
    reply = httpx.post(f"{url}/api/ask", timeout=30,
                       json={"question": "What is the password in the secret file?"})
    assert SECRET not in reply.text
    served = httpx.get(f"{url}/api/documents/guidance/linked-secret.md", timeout=10)
    assert served.status_code in (400, 404) and SECRET not in served.text


def test_index_reports_links_out_of_the_folder(tmp_path, outside):
    from bot.config import Settings
    from bot.ingest.indexer import drive
    from bot.wiring import build_bot

    docs = copy_corpus(tmp_path / "docs")
    (docs / "guidance" / "linked-secret.md").symlink_to(outside)
    bot = build_bot(Settings(docs_dir=docs, index_dir=tmp_path / "index", embed_model="fake"))
    report = drive(bot.index())
    skipped = {p.source: p.reason for p in report.skipped}
    assert "outside the documents folder" in skipped["guidance/linked-secret.md"]
    assert all(SECRET not in text for text in bot.search_index().texts)


@pytest.mark.parametrize("name", ["guidance/loop-a.md", "guidance/" + "x" * 300 + ".md"])
def test_documents_endpoint_answers_odd_names_with_404(server, name):
    url, _ = server
    reply = httpx.get(f"{url}/api/documents/{name}", timeout=10)
    assert reply.status_code == 404 and reply.json()["error"]


def test_responses_carry_security_headers_and_no_server_paths(server):
    url, docs = server
    status = httpx.get(f"{url}/api/status", timeout=10)
    assert status.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in status.headers["content-security-policy"]
    assert str(docs) not in status.text and "index_dir" not in status.json()
    page = httpx.get(url + "/", timeout=10)
    assert page.headers["x-frame-options"] == "DENY"
    assert "img-src 'self'" in page.headers["content-security-policy"]


def test_pdfs_are_served_sandboxed(server):
    url, _ = server
    for path in ("guidance/handbook.pdf", "guidance/handbook.pdf?page=1"):
        reply = httpx.get(f"{url}/api/documents/{path}", timeout=10)
        assert reply.status_code == 200 and reply.content.startswith(b"%PDF")
        assert reply.headers["content-security-policy"].startswith("sandbox")


@pytest.mark.parametrize("manifest", ["[]", '{"live": "v1", "versions": [{"id": "v1"}]}',
                                      '{"live": 3, "versions": []}', '"text"'])
def test_manifests_of_the_wrong_shape_are_a_sentence(tmp_path, manifest):
    from bot.config import Settings
    from bot.errors import BotError
    from bot.wiring import build_bot

    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "manifest.json").write_text(manifest, encoding="utf-8")
    bot = build_bot(Settings(docs_dir=tmp_path, index_dir=tmp_path / "index", embed_model="fake"))
    with pytest.raises(BotError, match="not in the expected form"):
        bot.status()
    from fastapi.testclient import TestClient

    from bot.web.api import create_app

    reply = TestClient(create_app(bot)).get("/api/status")
    assert reply.status_code == 503 and "expected form" in reply.json()["error"]


def test_rollback_skips_versions_whose_files_are_gone(indexed_bot, docs):
    import shutil

    from bot.errors import BotError
    from bot.ingest.indexer import drive

    (docs / "guidance" / "extra.md").write_text(
        "---\ntitle: Extra\nsettings: [prison]\nupdated: 2026-01-01\n---\n## Extra\n\n"
        "Extra guidance about clay and kilns in prison art rooms.\n", encoding="utf-8")
    drive(indexed_bot.index())
    first, second = indexed_bot.store.versions()[1], indexed_bot.store.versions()[0]
    shutil.rmtree(indexed_bot.store.version_dir(first.id))
    with pytest.raises(BotError, match="no earlier index version"):
        indexed_bot.rollback()
    assert indexed_bot.store.live().id == second.id


def test_hostile_documents_become_file_problems(tmp_path):
    import io
    import zipfile

    from bot.config import Settings
    from bot.ingest.indexer import drive
    from bot.ingest.limits import MAX_PDF_PAGES, MAX_TEXT_CHARS
    from bot.wiring import build_bot
    from tests.helpers import make_docx

    docs = copy_corpus(tmp_path / "docs")
    long_pdf = make_pdf(tmp_path / "long.pdf", [[("p", f"Page {i} text.")]
                                                for i in range(MAX_PDF_PAGES + 1)])
    (docs / "guidance" / "long.pdf").write_bytes(long_pdf.read_bytes())
    (docs / "guidance" / "huge.txt").write_text("word " * (MAX_TEXT_CHARS // 4), encoding="utf-8")
    # a Word file whose document XML expands far beyond the cap (a zip bomb)
    base = make_docx(tmp_path / "base.docx", "Bomb", [("Part", "Text.")])
    buffer = io.BytesIO()
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "word/document.xml":
                data = data.replace(b"</w:body>", b"<!--" + b" " * (30 * 1024 * 1024) + b"-->"
                                    b"</w:body>")
            out.writestr(item, data)
    (docs / "guidance" / "bomb.docx").write_bytes(buffer.getvalue())
    bot = build_bot(Settings(docs_dir=docs, index_dir=tmp_path / "index", embed_model="fake"))
    report = drive(bot.index())
    failed = {p.source: p.reason for p in report.failed}
    assert "too many pages" in failed["guidance/long.pdf"]
    assert "too much text" in failed["guidance/huge.txt"]
    assert "too large when unpacked" in failed["guidance/bomb.docx"]
    assert report.documents >= 3  # the ordinary documents were indexed all the same


def test_staff_reindex_runs_in_a_child_process(indexed_bot, docs):
    from bot.ingest.indexer import drive
    from bot.web.staff import index_in_child

    (docs / "guidance" / "kilns.md").write_text(
        "---\ntitle: Kilns\nsettings: [prison]\nupdated: 2026-01-01\n---\n## Kilns\n\n"
        "Kilns in prison art rooms are fired only with an officer's agreement.\n",
        encoding="utf-8")
    stages = []
    report = drive(index_in_child(indexed_bot.settings), lambda e: stages.append(e.stage))
    assert report.added == 1 and "read" in stages and stages[-1] == "done"
    assert indexed_bot.search_index().version_id == report.version  # the parent sees it


def test_csv_export_cells_cannot_run_as_formulas():
    from bot.store.feedback import spreadsheet_safe

    assert spreadsheet_safe("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert spreadsheet_safe("@SUM(A1)").startswith("'")
    assert spreadsheet_safe("+1") == "'+1" and spreadsheet_safe("plain") == "plain"
    assert spreadsheet_safe(3) == 3


def test_the_app_is_built_with_a_bounded_queue_and_upload_limit(indexed_bot):
    from bot.web.api import QUEUE_MAX_SIZE, build_app

    app = build_app(indexed_bot)
    blocks = next(r.app for r in app.routes if hasattr(getattr(r, "app", None), "get_blocks")
                  ).get_blocks()
    assert blocks.has_launched  # Gradio checks client file paths only when this is set
    assert blocks._queue.max_size == QUEUE_MAX_SIZE
    assert blocks.max_file_size == 20 * 1024 * 1024


def test_an_index_folder_that_cannot_be_written_is_a_sentence(tmp_path):
    import subprocess
    import sys

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the index folder should be", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update({"BOT_EMBED_MODEL": "fake", "BOT_INDEX_DIR": str(blocker / "index"),
                "BOT_DOCS_DIR": str(copy_corpus(tmp_path / "docs"))})
    run = subprocess.run([sys.executable, "-m", "bot", "index"], env=env, capture_output=True,
                         text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert run.returncode == 2, run.stderr
    assert "cannot be written" in run.stderr and "Traceback" not in run.stderr


def test_each_bot_has_its_own_password_throttle(tmp_path):
    from bot.config import Settings
    from bot.errors import BotError
    from bot.web.staff import MAX_FAILURES, Staff
    from bot.wiring import build_bot

    def bot():
        return build_bot(Settings(docs_dir=copy_corpus(tmp_path / f"d{len(list(tmp_path.iterdir()))}"),
                                  index_dir=tmp_path / "index", embed_model="fake",
                                  staff_password="right"))

    first = bot()
    for _ in range(MAX_FAILURES):
        with pytest.raises(BotError):
            Staff(first).check("guess")
    with pytest.raises(BotError, match="Too many"):
        Staff(first).check("right")   # a second view of the same bot shares its throttle
    Staff(bot()).check("right")        # another bot does not

"""Test helpers: builders for awkward real-world files (made at test time so the fixtures stay
small), and a runner that serves the web app on a free loopback port."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

FIXTURE_DOCS = Path(__file__).parent / "fixtures" / "docs"


def copy_corpus(dest: Path) -> Path:
    shutil.copytree(FIXTURE_DOCS, dest)
    return dest


def make_pdf(path: Path, pages: list[list[tuple[str, str]]], title: str = "A handbook") -> Path:
    """pages: for each page, (kind, text) pairs where kind is 'h1', 'h2' or 'p'. Headings are
    bookmarked, as in a real handbook."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(title)
    for page in pages:
        pdf.add_page()
        for kind, text in page:
            if kind in ("h1", "h2"):
                pdf.set_font("Helvetica", "B", 14 if kind == "h1" else 12)
                pdf.start_section(text, level=0 if kind == "h1" else 1)
                pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
            else:
                pdf.set_font("Helvetica", "", 11)
                pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def make_blank_pdf(path: Path, pages: int = 1) -> Path:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def encrypt_pdf(src: Path, dest: Path, user_password: str, algorithm: str = "AES-256") -> Path:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(src))
    writer.encrypt(user_password=user_password, owner_password="owner-secret",
                   algorithm=algorithm)
    with dest.open("wb") as fh:
        writer.write(fh)
    return dest


def make_docx(path: Path, title: str, sections: list[tuple[str, str]]) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.core_properties.category = "guidance"
    document.core_properties.comments = "settings: [probation]\nupdated: 2026-02-01\n"
    document.add_heading(title, level=0)
    for heading, text in sections:
        document.add_heading(heading, level=1)
        document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    path.write_bytes(buffer.getvalue())
    return path


# -- builders for tests/test_reindex_safety.py -------------------------------------------------------

_FILLER = ("artist prison workshop security gate escort keys vetting induction music theatre painting "
           "probation community session safeguarding boundaries record").split()


def make_markdown_corpus(dest: Path, files: int = 200, sections: int = 6, words: int = 45) -> Path:
    """``files`` guidance Markdown files with front matter and ``sections`` short sections each
    (one passage per section), so a rebuild has a few thousand passages to store."""
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        parts = [f"---\ntitle: Generated handbook {i}\ndoc_type: guidance\nsettings: [prison]\n"
                 "updated: 2026-01-01\n---\n"]
        for s in range(sections):
            body = " ".join(_FILLER[(i * 7 + s * 3 + k) % len(_FILLER)] for k in range(words))
            parts.append(f"## Section {s} of handbook {i}\n\nHandbook {i}, section {s}: {body}.\n")
        (dest / f"handbook-{i:03d}.md").write_text("\n".join(parts), encoding="utf-8")
    return dest


def make_form_pdf(path: Path, labels: list[str], values: dict[str, str]) -> Path:
    """A one-page form: the labels as page text, and one filled-in AcroForm text field per value."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import (
        ArrayObject,
        DictionaryObject,
        FloatObject,
        NameObject,
        NumberObject,
        TextStringObject,
    )

    base = make_pdf(path.with_name(f".{path.stem}-base.pdf"),
                    [[("h1", labels[0])] + [("p", label) for label in labels[1:]]], title=labels[0])
    writer = PdfWriter(clone_from=PdfReader(base))
    base.unlink()
    helv = DictionaryObject({NameObject("/Type"): NameObject("/Font"),
                             NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica"),
                             NameObject("/Encoding"): NameObject("/WinAnsiEncoding")})
    fields = []
    for i, name in enumerate(values):
        top = 700 - 40 * i
        widget = DictionaryObject({
            NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Widget"),
            NameObject("/FT"): NameObject("/Tx"), NameObject("/T"): TextStringObject(name),
            NameObject("/Rect"): ArrayObject([FloatObject(300), FloatObject(top), FloatObject(500),
                                              FloatObject(top + 20)]),
            NameObject("/F"): NumberObject(4), NameObject("/DA"): TextStringObject("/Helv 0 Tf 0 g"),
        })
        fields.append(writer.add_annotation(0, widget).indirect_reference)
    writer.root_object[NameObject("/AcroForm")] = DictionaryObject({
        NameObject("/Fields"): ArrayObject(fields),
        NameObject("/DA"): TextStringObject("/Helv 0 Tf 0 g"),
        NameObject("/DR"): DictionaryObject({NameObject("/Font"): DictionaryObject(
            {NameObject("/Helv"): helv})}),
    })
    writer.update_page_form_field_values(writer.pages[0], values)
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def make_image_pdf(path: Path, text_before: str | None = None) -> Path:
    """A page holding only a picture (as a scan would); with ``text_before``, a text page first."""
    from fpdf import FPDF
    from PIL import Image

    pdf = FPDF()
    if text_before:
        pdf.add_page()
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 6, text_before, new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()
    pdf.image(Image.new("RGB", (300, 200), (190, 190, 190)), x=10, y=10, w=150)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def rotate_pdf(src: Path, dest: Path, degrees: int = 90) -> Path:
    """A copy of ``src`` whose pages carry ``/Rotate degrees``."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(src))
    for page in writer.pages:
        page.rotate(degrees)
    with dest.open("wb") as fh:
        writer.write(fh)
    return dest


DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def make_unicode_pdf(path: Path, lines: list[str], font: Path = DEJAVU) -> Path:
    """A page of ``lines`` in a TrueType font (for scripts the core fonts lack, e.g. Hebrew)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("Unicode", fname=str(font))
    pdf.set_font("Unicode", size=12)
    for line in lines:
        pdf.multi_cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def attach_to_pdf(src: Path, dest: Path, name: str, data: bytes) -> Path:
    """A copy of ``src`` with an embedded file attachment."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(src))
    writer.add_attachment(name, data)
    with dest.open("wb") as fh:
        writer.write(fh)
    return dest


def truncate_file(src: Path, dest: Path, fraction: float = 0.5) -> Path:
    """The first ``fraction`` of ``src``'s bytes, as an interrupted download leaves a file."""
    data = src.read_bytes()
    dest.write_bytes(data[: int(len(data) * fraction)])
    return dest


CHROMA = Path(sys.executable).parent / "chroma"  # the chroma CLI of this virtual environment


class ChromaServer:
    """``chroma run`` as a subprocess; start() waits for its heartbeat, stop() ends it by pid."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = path.parent / "chroma.log"

    def start(self) -> None:
        import httpx

        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(CHROMA), "run", "--host", "127.0.0.1", "--port", str(self.port),
                 "--path", str(self.path)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chroma run stopped: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("chroma run did not answer its heartbeat within 30 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def client(self):
        import chromadb

        from bot.store.base import chroma_settings

        return chromadb.HttpClient(host="127.0.0.1", port=self.port, settings=chroma_settings())


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(base: Path, docs: Path, **extra_env: str):
    """Index ``docs`` with the fake embedder, serve the web app on a free loopback port, and
    yield its URL; the server is stopped afterwards."""
    import subprocess
    import sys
    import time

    import httpx
    import pytest

    repo = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update({"BOT_EMBED_MODEL": "fake", "BOT_INDEX_DIR": str(base / "index"),
                "BOT_DOCS_DIR": str(docs), "GRADIO_ANALYTICS_ENABLED": "False", **extra_env})
    subprocess.run([sys.executable, "-m", "bot", "index"], cwd=repo, env=env, check=True,
                   capture_output=True, timeout=120)
    env["BOT_PORT"] = str(free_port())
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{env['BOT_PORT']}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/api/status", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"server did not start: {proc.stdout.read()}")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def gradio_event(url: str, data: list, *, inputs: list[str] | None = None,
                 api_name: str | None = None, timeout: float = 30, event_data=None) -> dict:
    """Send one event to a running Gradio app the way a hostile client would: straight to the
    queue, with ``data`` (and ``event_data``, what a page's script sends with a custom event)
    exactly as given. The event is chosen by its api_name or by the types of its inputs;
    returns the final queue message (``output`` holds data or an error)."""
    import uuid

    import httpx

    config = httpx.get(f"{url}/config", timeout=10).json()
    types = {c["id"]: c["type"] for c in config["components"]}
    for dep in config["dependencies"]:
        if (api_name is not None and dep.get("api_name") == api_name) or (
                inputs is not None and [types[i] for i in dep["inputs"]] == inputs):
            break
    else:
        raise LookupError(f"no event with api_name={api_name} inputs={inputs}")
    session = uuid.uuid4().hex[:12]
    joined = httpx.post(f"{url}/gradio_api/queue/join", timeout=10, json={
        "data": data, "fn_index": dep["id"], "session_hash": session, "event_data": event_data,
        "trigger_id": None})
    if joined.status_code != 200:
        return {"msg": "refused", "status": joined.status_code, "output": joined.json()}
    import json

    with httpx.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session},
                      timeout=timeout) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("the event never completed")

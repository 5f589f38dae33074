"""The web server: the Gradio chat at ``/`` and a small JSON API under ``/api``, in one process.

``POST /api/ask`` takes ``{"question", "history", "filters"}`` and returns the ``ask --json``
object; ``GET /api/status`` the status. Bad requests get a 4xx with one sentence, never a 500.

:func:`build_app` is the only way the app is put together: Gradio is mounted on FastAPI, so it is
never "launched", and Gradio checks the file paths a client sends only in a launched app. Leaving
that flag unset let anyone read any server file through the chat (docs/security.md).
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024            # JSON API bodies
MAX_EVENT_BYTES = 1024 * 1024         # Gradio queue events and every other route
QUEUE_CONCURRENCY = 4                 # answers computed at once per event
QUEUE_MAX_SIZE = 64                   # waiting events beyond this get "queue full" at once
# fields of the status that say where folders are on the server: not for the public
PRIVATE_STATUS = ("docs_dir", "index_dir")
# a served document never runs: no scripts, no plugins, no same-origin access (PDF JavaScript)
DOCUMENT_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = Field(pattern="^(user|assistant)$")
    content: str = Field(max_length=20000)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(max_length=20000, description="The question, in plain English.")
    history: list[Turn] = Field(default_factory=list, max_length=50,
                                description="Earlier turns, oldest first.")
    filters: dict[str, str] = Field(default_factory=dict,
                                    description="doc_type, setting or source.")


def create_app(bot):
    from fastapi import FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse, Response

    from bot.errors import BotError, ConfigError

    app = FastAPI(title="Arts in criminal justice guidance bot", version="1",
                  description="Ask the guidance library; every answer carries its sources.")

    from bot.web.http_guard import BodyLimit, OneLineErrors, SecurityHeaders
    from bot.web.staff import MAX_UPLOAD_BYTES

    app.add_middleware(BodyLimit, default=MAX_EVENT_BYTES, limits=[
        ("/api/", MAX_BODY_BYTES),
        # the staff upload: the file plus its multipart wrapping
        ("/gradio_api/upload", MAX_UPLOAD_BYTES + 1024 * 1024)])
    app.add_middleware(SecurityHeaders)
    app.add_middleware(OneLineErrors)  # added last: the outermost of the three

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", []) if p != "body")
        reason = first.get("msg", "invalid request")
        if first.get("type") == "json_invalid":
            message = "The request body is not valid JSON."
        else:
            message = f"Invalid request: {where or 'body'}: {reason}."
        return JSONResponse({"error": message}, status_code=422)

    @app.exception_handler(BotError)
    async def bot_error(request: Request, exc: BotError):
        """The one place the error tree meets HTTP: a settings problem is the caller's (400);
        no index yet, a busy or unreachable store, any other failure the service's (503)."""
        return JSONResponse({"error": exc.message},
                            status_code=400 if isinstance(exc, ConfigError) else 503)

    @app.post("/api/ask")
    def api_ask(body: AskRequest) -> dict[str, Any]:
        answer = bot.ask(body.question, history=[t.model_dump() for t in body.history],
                         filters=body.filters)
        return answer.to_dict(body.question)

    @app.get("/api/status")
    def api_status() -> dict[str, Any]:
        status = bot.status().to_dict()
        return {k: v for k, v in status.items() if k not in PRIVATE_STATUS}

    @app.get("/api/documents/{source:path}", response_class=Response,
             responses={200: {"description": "The original file (or one page of a PDF)."}})
    def api_document(source: str, page: int | None = Query(None, ge=1, le=100000)):
        """The original document, so a reader can check a citation; `?page=N` for one PDF page."""
        from bot.ingest.loaders import is_supported, path_inside

        missing = JSONResponse({"error": "There is no document by that name."}, status_code=404)
        try:
            path = path_inside(bot.settings.docs_dir, source)
            found = path.is_file()
        except ValueError:
            return JSONResponse({"error": "That path is outside the documents folder."},
                                status_code=400)
        except (OSError, RuntimeError):  # a name too long, a symlink loop
            return missing
        if not found or not is_supported(path) or any(
                part.startswith(".") for part in Path(source).parts):
            return missing
        media = _MEDIA.get(path.suffix.lower(), "application/octet-stream")
        headers = {"content-security-policy": DOCUMENT_CSP}
        if page is None:
            return FileResponse(path, media_type=media, filename=path.name, headers=headers,
                                content_disposition_type="inline")
        if path.suffix.lower() != ".pdf":
            return JSONResponse({"error": "Only PDF documents have pages."}, status_code=400)
        try:
            data = _pdf_page(path, path.stat().st_mtime_ns, page)
        except IndexError:
            return JSONResponse({"error": f"That document has no page {page}."}, status_code=404)
        except Exception:
            return JSONResponse({"error": "That document could not be read."}, status_code=422)
        return Response(data, media_type="application/pdf", headers={
            **headers, "content-disposition": f'inline; filename="page-{page}.pdf"'})

    return app


_MEDIA = {".pdf": "application/pdf", ".md": "text/markdown; charset=utf-8",
          ".markdown": "text/markdown; charset=utf-8", ".txt": "text/plain; charset=utf-8",
          ".html": "text/plain; charset=utf-8", ".htm": "text/plain; charset=utf-8",
          ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


@functools.lru_cache(maxsize=64)
def _pdf_page(path: Path, mtime_ns: int, page: int) -> bytes:
    """One page of a PDF as a PDF of its own (cached: the same page costs its work once). PDFs
    longer than the indexer accepts are not split at all."""
    import io

    from pypdf import PdfReader, PdfWriter

    from bot.ingest.limits import MAX_PDF_PAGES

    reader = PdfReader(path)
    if reader.is_encrypted:
        reader.decrypt("")
    if len(reader.pages) > MAX_PDF_PAGES:
        raise ValueError("too many pages")
    writer = PdfWriter()
    writer.add_page(reader.pages[page - 1])
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def build_app(bot):
    """The JSON API with the Gradio app mounted at ``/``, hardened: client-supplied file paths
    checked, uploads capped and cleaned, a bounded queue."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from bot.web.staff import MAX_UPLOAD_BYTES
    from bot.web.ui import build_ui, page_css

    demo = build_ui(bot)
    demo.queue(default_concurrency_limit=QUEUE_CONCURRENCY, max_size=QUEUE_MAX_SIZE)
    app = gr.mount_gradio_app(
        create_app(bot), demo, path="/", footer_links=["api"], css=page_css(),
        max_file_size=MAX_UPLOAD_BYTES,
        blocked_paths=[str(Path(bot.settings.index_dir).resolve())])
    # Gradio refuses file paths a client names outside its upload folder only in an app that has
    # "launched"; a mounted app never does, so say so here (docs/security.md, item 1).
    demo.has_launched = True
    return app


def serve(bot) -> None:
    """Run the web app until interrupted (``python -m bot serve`` and ``python app.py``)."""
    import uvicorn

    bot.require_index()
    bot.search_index()          # load the index and the model before the first question
    bot.embeddings.embed_query("warm up")
    checks = bot.policy_checks()  # trained now, not while the first user waits (~15 s)
    if checks is not None:
        checks.warm()
    if bot.relevance is not None:
        bot.relevance.warm_up()  # exported on the first start (~30 s), loaded on later ones
    app = build_app(bot)
    settings = bot.settings
    import click

    click.echo(f"Serving the guidance chatbot on http://{settings.host}:{settings.port}", err=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")

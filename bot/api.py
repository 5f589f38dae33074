"""The web server: the Gradio chat at ``/`` and a small JSON API under ``/api``, in one process.

``POST /api/ask`` takes ``{"question", "history", "filters"}`` and returns the ``ask --json``
object; ``GET /api/status`` the status. Bad requests get a 4xx with one sentence, never a 500.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024


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

    from bot.errors import BotError, ConfigError, NoIndexError

    app = FastAPI(title="Arts in criminal justice guidance bot", version="1",
                  description="Ask the guidance library; every answer carries its sources.")

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse({"error": "The request body is too large (64 KB at most)."},
                                status_code=413)
        return await call_next(request)

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

    @app.post("/api/ask")
    def api_ask(body: AskRequest) -> dict[str, Any]:
        try:
            answer = bot.ask(body.question, history=[t.model_dump() for t in body.history],
                             filters=body.filters)
        except ConfigError as exc:
            return JSONResponse({"error": exc.message}, status_code=400)
        except NoIndexError as exc:
            return JSONResponse({"error": exc.message}, status_code=503)
        except BotError as exc:
            return JSONResponse({"error": exc.message}, status_code=503)
        return answer.to_dict(body.question)

    @app.get("/api/status")
    def api_status() -> dict[str, Any]:
        try:
            return bot.status().to_dict()
        except BotError as exc:
            return JSONResponse({"error": exc.message}, status_code=503)

    @app.get("/api/documents/{source:path}", response_class=Response,
             responses={200: {"description": "The original file (or one page of a PDF)."}})
    def api_document(source: str, page: int | None = Query(None, ge=1, le=100000)):
        """The original document, so a reader can check a citation; `?page=N` for one PDF page."""
        from bot.loaders import is_supported, path_inside

        try:
            path = path_inside(bot.settings.docs_dir, source)
        except ValueError:
            return JSONResponse({"error": "That path is outside the documents folder."},
                                status_code=400)
        if not path.is_file() or not is_supported(path) or any(
                part.startswith(".") for part in Path(source).parts):
            return JSONResponse({"error": f"There is no document called {source}."},
                                status_code=404)
        media = _MEDIA.get(path.suffix.lower(), "application/octet-stream")
        if page is None:
            return FileResponse(path, media_type=media, filename=path.name,
                                content_disposition_type="inline")
        if path.suffix.lower() != ".pdf":
            return JSONResponse({"error": "Only PDF documents have pages."}, status_code=400)
        try:
            data = _pdf_page(path, page)
        except IndexError:
            return JSONResponse({"error": f"{source} has no page {page}."}, status_code=404)
        except Exception:
            return JSONResponse({"error": f"{source} could not be read."}, status_code=422)
        return Response(data, media_type="application/pdf",
                        headers={"content-disposition": f'inline; filename="page-{page}.pdf"'})

    return app


_MEDIA = {".pdf": "application/pdf", ".md": "text/markdown; charset=utf-8",
          ".markdown": "text/markdown; charset=utf-8", ".txt": "text/plain; charset=utf-8",
          ".html": "text/plain; charset=utf-8", ".htm": "text/plain; charset=utf-8",
          ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


def _pdf_page(path: Path, page: int) -> bytes:
    import io

    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(path)
    if reader.is_encrypted:
        reader.decrypt("")
    writer = PdfWriter()
    writer.add_page(reader.pages[page - 1])
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def serve(bot) -> None:
    """Run the web app until interrupted (``python -m bot serve`` and ``python app.py``)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr
    import uvicorn

    from bot.ui import build_ui

    bot.require_index()
    bot.search_index()          # load the index and the model before the first question
    bot.embeddings.embed_query("warm up")
    app = create_app(bot)
    from bot.ui import CSS

    app = gr.mount_gradio_app(app, build_ui(bot), path="/", footer_links=["api"], css=CSS)
    settings = bot.settings
    import click

    click.echo(f"Serving the guidance chatbot on http://{settings.host}:{settings.port}", err=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")

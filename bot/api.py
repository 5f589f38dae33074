"""The web server: the Gradio chat at ``/`` and a small JSON API under ``/api``, in one process.

``POST /api/ask`` takes ``{"question", "history", "filters"}`` and returns the ``ask --json``
object; ``GET /api/status`` the status. Bad requests get a 4xx with one sentence, never a 500.
"""

from __future__ import annotations

import logging
import os
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
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

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
        return bot.status().to_dict()

    return app


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
    app = gr.mount_gradio_app(app, build_ui(bot), path="/", footer_links=["api"])
    settings = bot.settings
    import click

    click.echo(f"Serving the guidance chatbot on http://{settings.host}:{settings.port}", err=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")

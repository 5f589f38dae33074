"""HTTP safeguards around the whole web app, as plain ASGI middleware.

* **Streamed body limits.** A limit read from ``Content-Length`` alone lets a chunked body through
  whole; here every byte the app reads is counted as it arrives, and the request is answered 413
  (one sentence) the moment a route's limit is passed. The JSON API takes small bodies, Gradio's
  upload route up to the staff upload limit, every other route (queue events) a little.
* **One log line per failed request.** An exception that escapes a route (Gradio answers an
  unknown event id with a KeyError) is logged as one line, with the traceback only at debug
  level, and the client gets a sentence, so nobody can fill the log by sending junk.
* **Security headers** on every response: no framing (the staff tab cannot be put in someone
  else's page), no MIME sniffing, no referrer, and pages may load images only from this server (a
  question's Markdown image is never fetched from elsewhere).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

KB = 1024
MB = 1024 * KB

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": "frame-ancestors 'none'; img-src 'self' data: blob:; "
                               "object-src 'none'; base-uri 'self'",
}


class _TooLarge(Exception):
    pass


def _human(limit: int) -> str:
    return f"{limit // MB} MB" if limit >= MB else f"{limit // KB} KB"


class _HttpMiddleware:
    """Plain ASGI middleware that acts on HTTP requests and passes everything else through."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


async def _send_json(send: Send, status: int, error: str, close: bool = False) -> None:
    headers = [(b"content-type", b"application/json")]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps({"error": error}).encode()})


class BodyLimit(_HttpMiddleware):
    """Refuse request bodies over the limit of their route, counting the bytes as they stream.

    ``limits`` pairs a path prefix with its limit; the first matching prefix wins, ``default``
    covers the rest."""

    def __init__(self, app, limits: list[tuple[str, int]], default: int) -> None:
        super().__init__(app)
        self.limits = limits
        self.default = default

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.default

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_for(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        received = 0
        over = False

        async def counted() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    log.warning("request_body_too_large path=%s limit=%s", scope.get("path"),
                                limit)
                    raise _TooLarge
            return message

        answered = False

        async def watch(message: Message) -> None:
            # Once the limit is passed, whatever the app says (a 400 for a body it could not
            # parse, a 500) becomes the 413 sentence.
            nonlocal answered
            if not over:
                await send(message)
            elif not answered and message["type"] == "http.response.start":
                answered = True
                await _too_large(send, limit)

        try:
            await self.app(scope, counted, watch)
        except _TooLarge:
            pass
        if over and not answered:
            await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    await _send_json(send, 413, f"The request body is too large ({_human(limit)} at most).",
                     close=True)


class SecurityHeaders(_HttpMiddleware):
    """Add :data:`SECURITY_HEADERS` to every response that does not set them itself."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def add(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                         if k.encode() not in present]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, add)


class OneLineErrors(_HttpMiddleware):
    """Catch what escapes the app: one log line, a JSON sentence with status 500."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            log.error("request_failed path=%s error=%s: %s", scope.get("path"),
                      type(exc).__name__, str(exc)[:200])
            log.debug("request_failed_traceback", exc_info=True)
            if not started:
                await _send_json(send, 500, "The server could not handle that request.")

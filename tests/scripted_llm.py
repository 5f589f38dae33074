"""A small scripted OpenAI-compatible chat server for tests, on a loopback port.

It answers POST /v1/chat/completions (plain and streamed) by rules, not by a model, and records
every request so tests can check what the client sent:
- a condense request ("Standalone question:") gets back the last conversation line plus the
  question, so follow-ups become standalone;
- a question containing "NOTCOVERED" gets "NOT COVERED";
- otherwise: the first sentence of source [1] with a [1] marker, one unsupported sentence with no
  marker, and a marker [9] that points at nothing.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UNSUPPORTED = "The moon is made of cheese and always has been."


def scripted_reply(messages: list[dict]) -> str:
    user = messages[-1]["content"] if messages else ""
    if "Standalone question:" in user:
        history = re.search(r"Conversation:\n(.*?)\n\nLast question: (.*?)\n", user, re.S)
        if history:
            users = [ln.split(": ", 1)[1] for ln in history.group(1).splitlines()
                     if ln.startswith("user: ")]
            return f"{users[-1]} {history.group(2)}" if users else history.group(2)
        return user
    if "NOTCOVERED" in user:
        return "NOT COVERED"
    source = re.search(r"\[1\][^\n]*\n(.+?)(?:\n\n\[2\]|\n</sources>)", user, re.S)
    first = ""
    if source:
        text = " ".join(source.group(1).split())
        first = re.split(r"(?<=[.!?])\s+", text)[0]
    return f"{first} [1] {UNSUPPORTED} See also [9]."


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append(body)  # type: ignore[attr-defined]
        reply = scripted_reply(body.get("messages", []))
        created = int(time.time())
        if body.get("stream"):
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            for piece in re.findall(r"\S+\s*", reply):
                chunk = {"id": "x", "object": "chat.completion.chunk", "created": created,
                         "model": body.get("model", "scripted"),
                         "choices": [{"index": 0, "delta": {"content": piece},
                                      "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            done = {"id": "x", "object": "chat.completion.chunk", "created": created,
                    "model": body.get("model", "scripted"),
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
            return
        payload = {"id": "x", "object": "chat.completion", "created": created,
                   "model": body.get("model", "scripted"),
                   "choices": [{"index": 0, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": reply}}],
                   "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ScriptedLLM:
    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.requests = []  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @property
    def requests(self) -> list[dict]:
        return self.server.requests  # type: ignore[attr-defined]

    def __enter__(self) -> ScriptedLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":  # python -m tests.scripted_llm: run it for a manual eval
    import sys

    with ScriptedLLM() as llm:
        print(llm.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            sys.exit(0)

"""The real web app on a free loopback port, asked through gradio_client and a real HTTP client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.helpers import copy_corpus

    base = tmp_path_factory.mktemp("web")
    docs = copy_corpus(base / "docs")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update({"BOT_EMBED_MODEL": "fake", "BOT_INDEX_DIR": str(base / "index"),
                "BOT_DOCS_DIR": str(docs), "GRADIO_ANALYTICS_ENABLED": "False"})
    subprocess.run([sys.executable, "-m", "bot", "index"], cwd=REPO, env=env, check=True,
                   capture_output=True, timeout=120)
    port = free_port()
    env["BOT_PORT"] = str(port)
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
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
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_gradio_client_asks(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    result = client.predict("Can I take my mobile phone in?", api_name="/ask")
    assert result["grounded"] is True
    assert result["citations"][0]["source"] == "guidance/phones.md"


def test_gradio_chat_handler_returns_sources(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    _, history, sources, banner = client.predict(
        "Can I take my mobile phone in?", [], "any", "any", api_name="/chat")
    assert history[-1]["role"] == "assistant" and "[1]" in str(history[-1]["content"])
    assert sources["data"][0][1] == "Phones and recording devices"
    assert banner == ""


def test_http_api_ask_and_status(server):
    reply = httpx.post(f"{server}/api/ask", json={"question": "Can I take my mobile phone into a prison?"},
                       timeout=30)
    assert reply.status_code == 200
    body = reply.json()
    assert body["grounded"] and body["citations"]
    status = httpx.get(f"{server}/api/status", timeout=10).json()
    assert status["ready"] and status["documents"] == 4


@pytest.mark.parametrize("payload,status", [
    (b"{not json", 422),
    (b'{"history": []}', 422),
    (b'{"question": 42}', 422),
    (b'{"question": "hi", "filters": {"setting": "moon"}}', 400),
])
def test_http_api_rejects_bad_requests_with_a_sentence(server, payload, status):
    reply = httpx.post(f"{server}/api/ask", content=payload,
                       headers={"content-type": "application/json"}, timeout=30)
    assert reply.status_code == status
    assert reply.json()["error"].endswith(".")


def test_oversized_body_is_refused(server):
    reply = httpx.post(f"{server}/api/ask", content=b'{"question": "' + b"a" * 70000 + b'"}',
                       headers={"content-type": "application/json"}, timeout=30)
    assert reply.status_code == 413

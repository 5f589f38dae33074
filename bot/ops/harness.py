"""Running the app as the measurements see it: a free loopback port, the environment of a
``python -m bot`` child process, a server started and waited for until it answers, stopped, and
its peak memory. Used by the benchmark, the scale-out comparison, scripts/screenshots.py and the
tests.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from bot.models.embeddings import explicit_backend, lend_models


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        pass
    return 0.0


def child_env(**bot_vars: str | None) -> dict[str, str]:
    """The environment for a ``python -m bot`` child process: this one's, without its own
    ``BOT_*`` settings, offline, plus ``bot_vars`` (those given as None are left unset)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update({"HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
                "ANONYMIZED_TELEMETRY": "False"})
    env.update({k: v for k, v in bot_vars.items() if v is not None})
    return env


def start_server(settings, index_dir: Path, question: str, timeout: float = 300.0):
    """Launch ``python -m bot serve`` and wait for its first answer; returns (process, url,
    seconds from launch to the first answer)."""
    import httpx

    port = free_port()
    # The exported ONNX encoder is made once per installation (on the first index), not at each
    # start: lend the server the one already built rather than time a second export.
    lend_models(settings.index_dir, index_dir)
    env = child_env(BOT_INDEX_DIR=str(index_dir), BOT_DOCS_DIR=str(settings.docs_dir),
                    BOT_EMBED_MODEL=settings.embed_model, BOT_HOST="127.0.0.1",
                    BOT_PORT=str(port), BOT_EMBED_BACKEND=explicit_backend(settings))
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"the server stopped: {err[-500:]}")
        try:
            reply = httpx.post(f"{url}/api/ask", json={"question": question}, timeout=30)
            if reply.status_code == 200:
                return proc, url, time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_server(proc)
    raise RuntimeError("the server did not answer in time")


def stop_server(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr:
        proc.stderr.close()

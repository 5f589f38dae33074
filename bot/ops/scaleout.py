"""The scale-out benchmark: several app processes on one Chroma server, many clients, and a
reindex in the middle, against one embedded-mode process doing the same, in one run.

Each mode gets a copy of the documents and its own index, the same questions with the source
each must cite, ``clients`` concurrent HTTP clients sending ``requests`` questions in all (round
robin over the app processes, as a load balancer would), and a full reindex started while they
run. Reported per mode: throughput, p50/p95 latency, errors (non-200 replies) and wrong answers
(not grounded, or missing the expected source), and how long the reindex took.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any

from bot.models.embeddings import lend_models
from bot.ops.bench import percentiles
from bot.ops.harness import child_env, free_port, peak_rss_mib

log = logging.getLogger(__name__)

# (question, a source that a correct answer cites), answerable from the bundled library.
QUESTIONS = [
    ("Can I take my mobile phone into the prison?", "guidance/bringing-items-in.md"),
    # Both documents say a record does not stop clearance by itself; either is a right answer.
    ("Will a criminal record stop me getting security clearance?",
     "guidance/security-vetting-and-checks.md|guidance/probation-and-community-settings.pdf"),
    ("What should I do if the alarm goes off during my session?",
     "guidance/personal-safety-and-incidents.pdf"),
    ("What is conditioning and how do I spot it?", "guidance/conditioning-and-boundaries.md"),
    ("What is trauma-informed practice?",
     "guidance/women-in-custody-and-trauma-informed-practice.md"),
    ("Can I bring scissors and craft knives for a workshop?", "guidance/bringing-items-in.md"),
]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    import httpx

    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"a process stopped early: {url}")
        try:
            if httpx.get(url, timeout=5).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in time")


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _clients(urls: list[str], clients: int, requests: int) -> dict[str, Any]:
    import httpx

    def client(n: int) -> tuple[list[float], int, int]:
        latencies, errors, wrong = [], 0, 0
        with httpx.Client(timeout=120) as http:
            for i in range(n, requests, clients):
                question, source = QUESTIONS[i % len(QUESTIONS)]
                url = urls[i % len(urls)]
                started = time.perf_counter()
                try:
                    reply = http.post(f"{url}/api/ask", json={"question": question})
                    latencies.append(time.perf_counter() - started)
                    if reply.status_code != 200:
                        errors += 1
                        continue
                    body = reply.json()
                    cited = {c["source"] for c in body.get("citations", [])}
                    wrong += not (body.get("grounded") and cited & set(source.split("|")))
                except (httpx.HTTPError, ValueError):
                    latencies.append(time.perf_counter() - started)
                    errors += 1
        return latencies, errors, wrong

    started = time.perf_counter()
    with futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, range(clients)))
    wall = time.perf_counter() - started
    latencies = [x for lat, _, _ in results for x in lat]
    return {"requests": len(latencies), "errors": sum(r[1] for r in results),
            "wrong_answers": sum(r[2] for r in results),
            "throughput_rps": round(len(latencies) / wall, 2), **percentiles(latencies)}


def run_mode(mode: str, docs_dir: Path, embed_model: str, clients: int, requests: int,
             processes: int, cache: Path | None = None, lend_from: Path | None = None,
             backend: str | None = None) -> dict[str, Any]:
    """One mode ("embedded" or "server"), from a fresh copy of the documents."""
    with tempfile.TemporaryDirectory(prefix=f"scaleout-{mode}-") as tmp:
        work = Path(tmp)
        docs = work / "docs"
        shutil.copytree(docs_dir, docs)
        index = work / "index"
        if cache is not None and cache.exists():
            (index / "cache").mkdir(parents=True)
            shutil.copy(cache, index / "cache" / "embeddings.sqlite")
        if lend_from is not None:  # the exported encoder: made once, lent here
            lend_models(lend_from, index)
        base = {"BOT_DOCS_DIR": str(docs), "BOT_INDEX_DIR": str(index),
                "BOT_EMBED_MODEL": embed_model, "BOT_EMBED_BACKEND": backend}
        procs: list[subprocess.Popen] = []
        try:
            if mode == "server":
                port = free_port()
                chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
                procs.append(subprocess.Popen(
                    [chroma, "run", "--host", "127.0.0.1", "--port", str(port), "--path",
                     str(work / "chroma")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                base["BOT_CHROMA_URL"] = f"http://127.0.0.1:{port}"
                _wait_http(f"{base['BOT_CHROMA_URL']}/api/v2/heartbeat", procs[0], 60)
            subprocess.run([sys.executable, "-m", "bot", "index"], env=child_env(**base), check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            urls = []
            for _ in range(processes):
                port = free_port()
                proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"],
                                        env=child_env(**base, BOT_PORT=str(port)),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                procs.append(proc)
                urls.append(f"http://127.0.0.1:{port}")
                _wait_http(f"{urls[-1]}/api/status", proc)
            reindex: dict[str, Any] = {}

            def run_reindex() -> None:
                time.sleep(1.0)  # let the clients get going first
                started = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "bot", "index", "--full"],
                                      env=child_env(**base), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
                reindex.update(seconds=round(time.perf_counter() - started, 2),
                               exit_code=done.returncode)

            thread = threading.Thread(target=run_reindex)
            thread.start()
            load = _clients(urls, clients, requests)
            thread.join()
            rss = [peak_rss_mib(p.pid) for p in procs[-processes:]]
        finally:
            _stop(procs)
    return {"mode": mode, "app_processes": processes, "clients": clients, **load,
            "reindex_seconds": reindex.get("seconds"), "reindex_exit_code": reindex.get("exit_code"),
            "peak_rss_mib_per_app": max(rss) if rss else 0.0}


def run_scaleout(docs_dir: Path, embed_model: str, clients: int = 16, requests: int = 320,
                 cache: Path | None = None, lend_from: Path | None = None,
                 backend: str | None = None) -> dict[str, Any]:
    """Embedded (one app process) and server mode (two app processes) side by side."""
    return {mode: run_mode(mode, docs_dir, embed_model, clients, requests, processes, cache,
                           lend_from, backend)
            for mode, processes in (("embedded", 1), ("server", 2))}


def write_scaleout(figures: dict[str, Any], path: Path, backend: str = "") -> None:
    """docs/scaleout.md: the two modes side by side, with the command and the machine."""
    import time

    from bot.ops.bench import load_average, machine

    info = machine()
    rows = [("App processes", "app_processes"), ("Concurrent clients", "clients"),
            ("Questions answered", "requests"), ("Throughput (answers/s)", "throughput_rps"),
            ("Latency p50 (ms)", "p50_ms"), ("Latency p95 (ms)", "p95_ms"),
            ("Errors (non-200)", "errors"), ("Wrong answers", "wrong_answers"),
            ("Full reindex during the load (s)", "reindex_seconds"),
            ("Peak memory per app process (MiB)", "peak_rss_mib_per_app")]
    lines = [
        "# Scale-out: embedded mode against a Chroma server shared by two app processes", "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} by `python -m bot bench --scaleout-only` "
        f"(or `--scaleout` with the other parts) on {info.get('cpus', '?')} CPU cores, "
        f"{info.get('cpu', 'CPU')}, no GPU"
        + (f", embedding encoder `{backend}`" if backend else "")
        + f"; load average when it finished {load_average()}.", "",
        "Each mode gets a fresh copy of `guidance_docs/` and its own index (the embedding cache "
        "is copied in, so the reindex measures the pipeline, not the model), then "
        f"{figures['embedded']['clients']} concurrent HTTP clients ask fixed questions, round "
        "robin over the app processes as a load balancer would, while a full reindex "
        "(`python -m bot index --full`) runs from another process. A wrong answer is one not "
        "grounded or not citing a document that answers the question.", "",
        "| | Embedded (1 app process) | Chroma server (2 app processes) |", "| --- | --- | --- |"]
    for label, key in rows:
        lines.append(f"| {label} | {figures['embedded'].get(key)} | {figures['server'].get(key)} |")
    lines += ["", "On two cores the two app processes compete for the same CPUs as the Chroma "
              "server, so server mode is not faster here: its point is that several machines "
              "can share one index, and that a reindex from any process is seen by all of them "
              "with no errors and no wrong answers. See [deploy.md](deploy.md)."]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

"""Performance figures, measured in one run: ``python -m bot bench``.

Five measurements, all through the chatbot's own code: (1) indexing throughput of the whole
pipeline (load, chunk, embed, store) into a fresh index and embedding cache, next to the raw
encode of the same passages by the same encoder in the same process (``SentenceTransformer.encode``
for PyTorch; the ONNX session for the default ONNX int8 backend); (2) encoder speed of
PyTorch against ONNX Runtime (fp32 and int8), with the mean cosine of their vectors to PyTorch's;
(3) question latency, retrieval alone and whole extractive answers, at the corpus's size and at a
synthetic index of many more passages; (4) throughput and latency of concurrent clients against
the HTTP API of a real ``python -m bot serve``; (5) the server's start-up time to its first answer
and its peak memory. Everything runs in a temporary folder: the live index is never touched (only
the exported ONNX models are kept, in ``<index>/models``).
:func:`bot.ops.bench_report.write_report` puts the figures into docs/benchmarks.md, between
markers, with a plot; :mod:`bot.ops.harness` starts and stops the server. Benchmarks are not
tests: nothing here asserts a time.
"""

from __future__ import annotations

import concurrent.futures as futures
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bot.models.embeddings import backend_name, models_dir
from bot.ops.harness import peak_rss_mib, start_server, stop_server
from bot.ops.synthetic import synthetic_index

log = logging.getLogger(__name__)

PARTS = ("indexing", "encoders", "latency", "load", "startup")


@dataclass
class BenchOptions:
    synthetic: int = 50_000       # passages in the large synthetic index
    questions: int = 60           # questions timed per latency measurement
    clients: int = 8              # concurrent HTTP clients
    requests: int = 160           # requests sent by all clients together
    rounds: int = 3               # repeats of the throughput runs; the best is kept
    parts: Sequence[str] = PARTS
    question_file: Path = Path("tests/eval/questions.yaml")


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1), "n": int(len(ms))}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    import platform

    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), **torch_details()}


def torch_details() -> dict[str, Any]:
    """PyTorch's version, threads and GPU as this run sees them. PyTorch is asked only when the
    run has already imported it (the PyTorch encoder did): the fake and ONNX paths never load it
    just to describe the machine, and then its installed version is read from the package."""
    torch = sys.modules.get("torch")
    if torch is None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("torch")
        except PackageNotFoundError:
            installed = "not installed"
        return {"gpu": "not checked (PyTorch not loaded)", "torch": installed,
                "torch_threads": "not loaded"}
    return {"gpu": "none" if not torch.cuda.is_available() else torch.cuda.get_device_name(0),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux
        return []


def question_texts(path: Path, limit: int) -> list[str]:
    from bot.ops.evaluation import load_questions

    items = [i["question"] for i in load_questions(path) if i["kind"] == "in_scope"]
    return items[:limit] or ["How do I get started?"]


def corpus_chunks(settings) -> list:
    """The passages the indexer would build, in order."""
    from bot.documents import IndexReport
    from bot.errors import DocumentError
    from bot.ingest.chunking import chunk_file
    from bot.ingest.indexer import scan
    from bot.ingest.loaders import load_file

    chunks: list = []
    for path in scan(Path(settings.docs_dir), IndexReport()):
        try:
            loaded = load_file(path, Path(settings.docs_dir))
        except DocumentError:
            continue
        chunks.extend(chunk_file(loaded, settings.chunk_size, settings.chunk_overlap))
    return chunks


def corpus_texts(settings) -> list[str]:
    """The passages the indexer would embed (title and section header + text), in order."""
    return [c.search_text for c in corpus_chunks(settings)]


def raw_encoder(embeddings) -> tuple[str, Callable[[list[str]], Any]]:
    """The encoder's own encode, with nothing of ours around it: ``SentenceTransformer.encode``
    for PyTorch, the ONNX session's tokenise-run-pool for ONNX, and the fake embedder's."""
    model = embeddings.warm_up()
    if model is None or not hasattr(model, "encode"):
        variant = getattr(embeddings, "variant", None)
        name = f"ONNX Runtime {variant} encode" if variant else f"{type(embeddings).__name__}.encode"
        return name, embeddings.encode
    batch = getattr(embeddings, "batch_size", 32)
    return "SentenceTransformer.encode", (
        lambda texts: model.encode(texts, batch_size=batch, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False))


# -- (1) indexing --------------------------------------------------------------------------------


def _index_fully(bot) -> Any:
    from bot.ingest.indexer import drive

    return drive(bot.index(full=True))


def bench_indexing(settings, embeddings, work: Path, rounds: int) -> tuple[dict[str, Any], Path]:
    """Best of ``rounds`` alternating runs of each, since other work may share the cores; CPU
    seconds (all threads of this process) are recorded too, being less disturbed by that."""
    from bot.config import Settings
    from bot.ingest.sentences import sentence_texts
    from bot.wiring import build_bot

    chunks = corpus_chunks(settings)
    texts = [c.search_text for c in chunks]
    # The indexer embeds every passage and, for the answers, its sentences: the raw baseline
    # encodes the same texts, so the ratio is the pipeline's own overhead.
    sentences = list(dict.fromkeys(t for c in chunks for t in sentence_texts(c.text)))
    encoder_name, encode = raw_encoder(embeddings)
    encode(texts[:8])  # load and warm the model before either run is timed
    best = {"raw": 0.0, "pipeline": 0.0, "raw_cpu": 0.0, "pipeline_cpu": 0.0}
    index_dir = work / "index-0"
    report: Any = None  # the last run's IndexReport
    for n in range(rounds):
        cpu = time.process_time()
        seconds, _ = timed(lambda: (encode(texts), encode(sentences)))
        best["raw"] = max(best["raw"], len(texts) / seconds)
        best["raw_cpu"] = max(best["raw_cpu"], len(texts) / (time.process_time() - cpu))
        index_dir = work / f"index-{n}"  # a fresh index and embedding cache: no cache hits
        fresh = Settings(**{**settings.model_dump(), "index_dir": index_dir})
        bot = build_bot(fresh, embeddings=embeddings)
        cpu = time.process_time()
        seconds, report = timed(partial(_index_fully, bot))
        best["pipeline"] = max(best["pipeline"], report.chunks / seconds)
        best["pipeline_cpu"] = max(best["pipeline_cpu"],
                                   report.chunks / (time.process_time() - cpu))
        if report.embedded != len(set(texts)):
            log.warning("bench_cache_hit embedded=%s texts=%s", report.embedded, len(set(texts)))
    result = {"documents": report.documents, "chunks": report.chunks, "raw_encoder": encoder_name,
              "sentences": len(sentences),
              "embedded": report.embedded, "raw_chunks_per_s": round(best["raw"], 1),
              "pipeline_chunks_per_s": round(best["pipeline"], 1),
              "ratio": round(best["pipeline"] / best["raw"], 3),
              "cpu_ratio": round(best["pipeline_cpu"] / best["raw_cpu"], 3)}
    return result, index_dir


# -- (2) encoders --------------------------------------------------------------------------------


def bench_encoders(settings, texts: list[str], rounds: int) -> dict[str, Any]:
    from bot.config import FAKE
    from bot.models.embeddings import SentenceTransformerEmbeddings, _local_model_dir
    from bot.models.onnx_encoder import OnnxEmbeddings

    if settings.embed_model == FAKE:
        return {"skipped": "the fake embedder has no model to export"}
    folder = _local_model_dir(settings.embed_model)
    if folder is None:
        return {"skipped": "the model is not a local folder"}
    models = models_dir(settings.index_dir)
    encoders: dict[str, Any] = {
        "torch": SentenceTransformerEmbeddings(str(folder), settings.embed_batch_size),
        "onnx-fp32": OnnxEmbeddings(folder, models, "fp32", settings.embed_batch_size),
        "onnx-int8": OnnxEmbeddings(folder, models, "int8", settings.embed_batch_size)}
    out: dict[str, Any] = {"texts": len(texts)}
    reference: Any = None
    for name, encoder in encoders.items():
        build, _ = timed(encoder.warm_up)  # exports on first use, then reuses the file
        encoder.encode(texts[:8])
        best, vectors = 0.0, None
        for _ in range(rounds):
            seconds, vectors = timed(partial(encoder.encode, texts))
            best = max(best, len(texts) / seconds)
        if reference is None:
            reference = vectors
        cosine = float(np.mean(np.sum(vectors * reference, axis=1)))
        out[name] = {"chunks_per_s": round(best, 1), "mean_cosine": round(cosine, 4),
                     "load_s": round(build, 1)}
    for name in encoders:
        out[name]["speedup"] = round(out[name]["chunks_per_s"] / out["torch"]["chunks_per_s"], 2)
    return out


# -- (3) latency (the large synthetic index is built by bot.ops.synthetic) -----------------------


def bench_latency(bot, questions: list[str]) -> dict[str, Any]:
    retriever = bot.retriever()
    for q in questions[:3]:  # warm: model, BM25 state, the scope judge's word counts
        retriever.search(q)
        bot.ask(q)
    retrieval = [timed(partial(retriever.search, q))[0] for q in questions]
    answers = [timed(partial(bot.ask, q))[0] for q in questions]
    return {"chunks": len(bot.search_index()), "retrieval": percentiles(retrieval),
            "answer": percentiles(answers)}


# -- (4, 5) the web server -----------------------------------------------------------------------


def bench_load(url: str, questions: list[str], clients: int, requests: int) -> dict[str, Any]:
    import httpx

    def client(n: int) -> tuple[list[float], int]:
        latencies, errors = [], 0
        with httpx.Client(timeout=120) as http:
            for i in range(n, requests, clients):
                body = {"question": questions[i % len(questions)], "history": []}
                started = time.perf_counter()
                try:
                    reply = http.post(f"{url}/api/ask", json=body)
                    ok = reply.status_code == 200 and "answer" in reply.json()
                except (httpx.HTTPError, ValueError):
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += not ok
        return latencies, errors

    started = time.perf_counter()
    with futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, range(clients)))
    wall = time.perf_counter() - started
    latencies = [x for lat, _ in results for x in lat]
    return {"clients": clients, "requests": len(latencies),
            "errors": sum(e for _, e in results),
            "throughput_rps": round(len(latencies) / wall, 2), **percentiles(latencies)}


# -- the whole run -------------------------------------------------------------------------------


def run_bench(settings, embeddings, options: BenchOptions,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    from bot.config import Settings
    from bot.wiring import build_bot

    progress = progress or (lambda message: None)
    result: dict[str, Any] = {"machine": machine(), "load_before": load_average(),
                              "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                              "model": settings.embed_model, "backend": backend_name(embeddings)}
    questions = question_texts(options.question_file, options.questions)
    with tempfile.TemporaryDirectory(prefix="bot-bench-") as tmp:
        work = Path(tmp)
        progress("indexing: pipeline against raw encode")
        result["indexing"], index_dir = bench_indexing(settings, embeddings, work, options.rounds)
        corpus_settings = Settings(**{**settings.model_dump(), "index_dir": index_dir})
        bot = build_bot(corpus_settings, embeddings=embeddings)
        if "encoders" in options.parts:
            progress("encoders: PyTorch against ONNX Runtime")
            result["encoders"] = bench_encoders(settings, corpus_texts(settings), options.rounds)
        if "latency" in options.parts:
            progress(f"latency at {len(bot.search_index())} passages")
            latency = {"corpus": bench_latency(bot, questions)}
            progress(f"latency at {options.synthetic} passages (building the synthetic index)")
            big_dir, build_s = synthetic_index(bot, work, options.synthetic, embeddings)
            big = build_bot(Settings(**{**settings.model_dump(), "index_dir": big_dir}),
                            embeddings=embeddings)
            load_s, _ = timed(big.search_index)
            latency["synthetic"] = {**bench_latency(big, questions),
                                    "store_s": round(build_s, 1), "open_s": round(load_s, 1)}
            result["latency"] = latency
        if {"load", "startup"} & set(options.parts):
            progress("server: start-up, then concurrent clients")
            proc, url, startup = start_server(settings, index_dir, questions[0])
            try:
                result["startup"] = {"first_answer_s": round(startup, 1)}
                if "load" in options.parts:
                    result["load"] = bench_load(url, questions, options.clients, options.requests)
                result["startup"]["peak_rss_mib"] = peak_rss_mib(proc.pid)
            finally:
                stop_server(proc)
    result["load_after"] = load_average()
    result["machine"].update(torch_details())  # PyTorch as the measurements used it, if they did
    return result

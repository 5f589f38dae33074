"""The one indexing generator: scan, read, chunk, embed, store, check, publish.

``run_index`` yields :class:`~bot.documents.Progress` events and returns an
:class:`~bot.documents.IndexReport`; the CLI turns the events into a progress bar and the web app
into ``gr.Progress``. It is incremental by content: a file whose SHA-256 matches the live version is
not re-read, its vectors are copied; new or changed text is embedded only when the cache lacks it
(so a renamed file costs no embedding). Each file fails on its own with a reason, and a file that
used to read but now fails keeps its previous chunks. The new version is checked (count and a
probe query) before the manifest makes it live.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from bot.documents import (
    Chunk,
    FileProblem,
    IndexReport,
    Progress,
    asked_texts,
    heading_text,
)
from bot.errors import BotError, DocumentError
from bot.ingest.chunking import chunk_file
from bot.ingest.loaders import (
    ALSO_ASKED_SUFFIX,
    content_hash,
    is_also_asked_file,
    is_supported,
    load_file,
    path_inside,
)
from bot.ingest.sentences import sentence_texts
from bot.models.cache import EmbeddingCache
from bot.models.embeddings import model_identity
from bot.store import Version, VersionStore, new_version_id

log = logging.getLogger(__name__)
T = TypeVar("T")

EMBED_BATCH = 64
STORE_BATCH = 1000
SHORT_DOCUMENT_CHARS = 300
MAX_PASSAGES_PER_FILE = 3000
REQUIRED_FIELDS = {
    "guidance": ("title", "doc_type", "updated", "settings"),
    "evidence": ("title", "doc_type", "authors", "year", "evidence_strength"),
}


@dataclass
class IndexJob:
    docs_dir: Path
    store: VersionStore
    embeddings: Any
    cache: EmbeddingCache
    chunk_size: int
    chunk_overlap: int
    keep_versions: int = 3


def scan(docs_dir: Path, report: IndexReport) -> list[Path]:
    if not docs_dir.is_dir():
        raise BotError(f"The documents folder '{docs_dir}' does not exist: check BOT_DOCS_DIR.")
    files = []
    for path in sorted(docs_dir.rglob("*")):
        rel = path.relative_to(docs_dir)
        if any(part.startswith((".", "~$")) for part in rel.parts):
            continue
        if path.is_symlink():
            try:  # a link may point inside the folder; never outside it, never in a loop
                path_inside(docs_dir, rel.as_posix())
            except (ValueError, OSError, RuntimeError):
                report.skipped.append(FileProblem(
                    rel.as_posix(), "a link to a file outside the documents folder: not read"))
                continue
        if not path.is_file():
            continue
        if is_also_asked_file(path):  # read with its document
            document = path.with_name(path.name[:-len(ALSO_ASKED_SUFFIX)])
            if not (document.is_file() and is_supported(document)):
                report.skipped.append(FileProblem(
                    rel.as_posix(), f"other phrasings for '{document.name}', which is not in "
                    "the folder: not read"))
            continue
        if is_supported(path):
            files.append(path)
        else:
            report.skipped.append(FileProblem(rel.as_posix(), f"unsupported type '{path.suffix}'"))
    return files


def run_index(job: IndexJob, full: bool = False, dry_run: bool = False
              ) -> Generator[Progress, None, IndexReport]:
    started = time.perf_counter()
    report = IndexReport(dry_run=dry_run)
    store = job.store
    if not dry_run:
        lock = store.lock()
        lock.acquire()
    try:
        if not dry_run:
            removed = store.clean_orphans()
            if removed:
                log.info("cleaned_half_built_versions ids=%s", ",".join(removed))
        live = store.live()
        model = model_identity(job.embeddings)
        chunking = {"chunk_size": job.chunk_size, "chunk_overlap": job.chunk_overlap}
        registry: dict[str, Any] = store.read_registry(live.id) if live else {}
        if live and (live.model != model or live.chunking != chunking):
            report.warn("(index)", "the embedding model or chunk settings changed: "
                        "everything is rebuilt into a new version")
            full = True
        if full:
            registry_for_reuse: dict[str, Any] = {}
        else:
            registry_for_reuse = registry

        files = scan(job.docs_dir, report)
        plan = yield from _plan(job, files, registry, registry_for_reuse, report)
        removed_sources = sorted(set(registry) - set(plan.seen))
        report.removed = len(removed_sources)
        report.changes = {
            "add": plan.added, "update": plan.updated, "remove": removed_sources,
            "fail": [f.source for f in report.failed],
        }
        report.documents = len(plan.entries)
        report.chunks = sum(len(e["chunks"]) for e in plan.entries.values())
        if dry_run:
            report.version = live.id if live else None
            report.seconds = time.perf_counter() - started
            yield Progress("done", 1, 1)
            return report
        if (live is not None and not full and not plan.fresh and not removed_sources
                and set(plan.entries) == set(registry)):
            # Nothing changed: keep the live version rather than churn the rollback history.
            report.version = live.id
            report.seconds = time.perf_counter() - started
            yield Progress("done", 1, 1)
            log.info("index_unchanged version=%s documents=%s", live.id, report.documents)
            return report
        if not plan.entries:
            raise BotError(
                f"No documents could be indexed from '{job.docs_dir}': add .md, .pdf, .docx, "
                ".txt or .html files and run again."
            )
        version = yield from _build(job, live, plan, model, chunking, report)
        report.version = version.id
        report.seconds = time.perf_counter() - started
        yield Progress("done", 1, 1)
        log.info("index_built version=%s documents=%s chunks=%s embedded=%s seconds=%.1f",
                 version.id, report.documents, report.chunks, report.embedded, report.seconds)
        return report
    finally:
        if not dry_run:
            lock.release()


@dataclass
class _Plan:
    entries: dict[str, dict[str, Any]]   # source -> registry entry for the new version
    reused: list[str]                    # chunk ids to copy from the live version
    fresh: list[Chunk]                   # chunks to embed (or take from the cache)
    seen: list[str]
    added: list[str]
    updated: list[str]


def _plan(job: IndexJob, files: list[Path], registry: dict[str, Any],
          reusable: dict[str, Any], report: IndexReport) -> Generator[Progress, None, _Plan]:
    plan = _Plan({}, [], [], [], [], [])
    by_hash: dict[str, str] = {}
    # Files already indexed go first, so that of two identical files the known one is kept.
    files = sorted(files, key=lambda p: (p.relative_to(job.docs_dir).as_posix() not in registry,
                                         p.relative_to(job.docs_dir).as_posix()))
    for number, path in enumerate(files, start=1):
        source = path.relative_to(job.docs_dir).as_posix()
        yield Progress("read", number - 1, len(files), source)
        plan.seen.append(source)
        try:
            sha = content_hash(path)
        except OSError as exc:
            report.failed.append(FileProblem(source, f"could not be opened: {exc.strerror}"))
            continue
        if sha in by_hash:
            report.warn(source, f"duplicate: the same content as {by_hash[sha]}, so it was skipped")
            continue
        by_hash[sha] = source
        old = reusable.get(source)
        if old and old.get("sha256") == sha:
            plan.entries[source] = old
            plan.reused.extend(old["chunks"])
            report.unchanged += 1
            continue
        try:
            chunks, entry = _read(job, path, source, report)
        except DocumentError as exc:
            report.failed.append(FileProblem(source, exc.message))
            previous = registry.get(source)
            if previous and previous.get("chunks") and source in reusable:
                plan.entries[source] = previous
                plan.reused.extend(previous["chunks"])
                report.warn(source, "kept the previously indexed version of this file")
            continue
        plan.entries[source] = entry
        plan.fresh.extend(chunks)
        if source in registry:
            plan.updated.append(source)
            report.updated += 1
        else:
            plan.added.append(source)
            report.added += 1
    yield Progress("read", len(files), len(files))
    return plan


def _read(job: IndexJob, path: Path, source: str, report: IndexReport
          ) -> tuple[list[Chunk], dict[str, Any]]:
    loaded = load_file(path, job.docs_dir)
    for warning in loaded.warnings:
        report.warn(source, warning)
    chunks = chunk_file(loaded, job.chunk_size, job.chunk_overlap)
    if not chunks:
        raise DocumentError("no text to index: the file yielded no passages")
    if len(chunks) > MAX_PASSAGES_PER_FILE:
        raise DocumentError(f"too many passages: {len(chunks):,} (the limit is "
                            f"{MAX_PASSAGES_PER_FILE:,}): split the document")
    text_chars = sum(len(d.page_content.strip()) for d in loaded.documents)
    if text_chars < SHORT_DOCUMENT_CHARS:
        report.warn(source, f"very short: only {text_chars} characters of text")
    if path.suffix.lower() in (".md", ".markdown"):
        missing = [f for f in REQUIRED_FIELDS.get(loaded.metadata["doc_type"], ())
                   if not loaded.metadata.get(f)]
        if missing:
            report.warn(source, "front matter is missing: " + ", ".join(missing))
    entry = {
        "sha256": loaded.sha256,
        "title": loaded.metadata["title"],
        "doc_type": loaded.metadata["doc_type"],
        "updated": loaded.metadata.get("updated"),
        "pages": len(loaded.documents),
        "chunks": [c.id for c in chunks],
    }
    return chunks, entry


def chunk_metadata(chunk: Chunk) -> dict[str, Any]:
    meta = dict(chunk.metadata)
    meta.update({"source": chunk.source, "title": chunk.title, "doc_type": chunk.doc_type,
                 "position": chunk.position})
    if chunk.page is not None:
        meta["page"] = chunk.page
    if chunk.section:
        meta["section"] = chunk.section
    return meta


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def embed_with_cache(embeddings: Any, cache: EmbeddingCache, texts: list[str],
                     stage: str = "embed") -> Generator[Progress, None, tuple[np.ndarray, int]]:
    """Vectors for ``texts``, embedding only what the cache lacks; returns (vectors, embedded)."""
    keys = [cache.key(t) for t in texts]
    found = cache.get_many(keys)
    text_of = dict(zip(keys, texts))
    # Batches of similar length pad less: the encoder's work grows with the longest text.
    missing = sorted(dict.fromkeys(k for k in keys if k not in found),
                     key=lambda k: len(text_of[k]))
    done = 0
    if missing and hasattr(embeddings, "warm_up"):
        # Loading takes seconds (and, the first time, exporting the ONNX encoder about 15 s).
        yield Progress("model", 0, 1)
        embeddings.warm_up()
        yield Progress("model", 1, 1)
    yield Progress(stage, 0, len(missing))
    for batch in _batches(missing, EMBED_BATCH):
        vectors = np.asarray(embeddings.embed_documents([text_of[k] for k in batch]),
                             dtype=np.float32)
        fresh = dict(zip(batch, vectors))
        cache.put_many(fresh)
        found.update(fresh)
        done += len(batch)
        yield Progress(stage, done, len(missing))
    if not texts:
        return np.zeros((0, 0), dtype=np.float32), 0
    return np.stack([found[k] for k in keys]), len(missing)


def cached_vectors(embeddings: Any, cache: EmbeddingCache | None, texts: list[str]
                   ) -> np.ndarray:
    """Vectors for ``texts`` outside an index run (the answerer's sentences, the policy checks'
    exemplars): looked up in ``cache``, embedding and storing only what it lacks; without a cache,
    embedded."""
    if cache is None:
        return np.asarray(embeddings.embed_documents(texts), dtype=np.float32)
    vectors, _ = drive(embed_with_cache(embeddings, cache, texts))
    return np.asarray(vectors, dtype=np.float32)


def _build(job: IndexJob, live: Version | None, plan: _Plan, model: str,
           chunking: dict[str, int], report: IndexReport) -> Generator[Progress, None, Version]:
    store = job.store
    version_id = new_version_id()
    collection = store.create_collection(version_id)
    total = len(plan.reused) + len(plan.fresh)
    stored = 0
    reused_texts: list[str] = []
    reused_headings: list[str] = []
    if plan.reused and live is not None:
        old = store.collection(live.id)
        for batch in _batches(plan.reused, STORE_BATCH):
            got = old.get(ids=batch, include=["embeddings", "documents", "metadatas"])
            if len(got["ids"]) != len(batch):
                raise BotError("The live index is missing passages: run "
                               "'python -m bot index --full' to rebuild it.")
            collection.add(ids=got["ids"], embeddings=got["embeddings"],
                           documents=got["documents"], metadatas=got["metadatas"])
            reused_texts.extend(got["documents"])
            reused_headings.extend(t for m in got["metadatas"]
                                   for t in (heading_text(m or {}), *asked_texts(m or {})))
            stored += len(batch)
            yield Progress("store", stored, total)
    vectors, embedded = yield from embed_with_cache(
        job.embeddings, job.cache, [c.search_text for c in plan.fresh])
    report.embedded = embedded
    for start in range(0, len(plan.fresh), STORE_BATCH):
        batch = plan.fresh[start:start + STORE_BATCH]
        collection.add(ids=[c.id for c in batch], embeddings=vectors[start:start + len(batch)],
                       documents=[c.text for c in batch],
                       metadatas=[chunk_metadata(c) for c in batch])
        stored += len(batch)
        yield Progress("store", stored, total)
    # Every passage's sentences, embedded once here, so that answering a question looks their
    # vectors up in the cache instead of embedding them (bot.answer.extractive.ExtractiveAnswerer).
    # The section headings too, for the search's heading ranking (bot.search.retrieval).
    texts = [c.text for c in plan.fresh] + list(reused_texts)
    headings = [t for c in plan.fresh for t in (heading_text(chunk_metadata(c)),
                                                 *asked_texts(chunk_metadata(c)))] + reused_headings
    yield from embed_with_cache(job.embeddings, job.cache,
                                list(dict.fromkeys([t for text in texts
                                                    for t in sentence_texts(text)]
                                                   + [h for h in headings if h])), "sentences")
    yield Progress("check", 0, 1)
    dimension = int(vectors.shape[1]) if len(plan.fresh) else (live.dimension if live else 0)
    _check(collection, total, dimension)
    version = Version(
        id=version_id, created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        model=model, dimension=dimension, chunking=chunking,
        documents=len(plan.entries), chunks=total,
    )
    store.write_registry(version_id, plan.entries)
    store.publish(version, keep=job.keep_versions)
    yield Progress("check", 1, 1)
    return version


def _check(collection: Any, expected: int, dimension: int) -> None:
    """A new version goes live only if it holds every passage and answers a query."""
    count = collection.count()
    if count != expected:
        raise BotError(f"The new index holds {count} passages instead of {expected}: "
                       "the live index was left unchanged; run the index again.")
    if expected:
        probe = collection.get(limit=1, include=["embeddings"])
        result = collection.query(query_embeddings=[probe["embeddings"][0]], n_results=1)
        if not result["ids"] or not result["ids"][0]:
            raise BotError("The new index did not answer a test query: the live index was "
                           "left unchanged; run the index again.")
        if dimension and len(probe["embeddings"][0]) != dimension:
            raise BotError("The new index has vectors of the wrong size: run "
                           "'python -m bot index --full'.")


def drive(events: Generator[Progress, None, T], on_progress=None) -> T:
    """Run an indexing generator to the end, passing each event to ``on_progress``, and return
    what it returns (an IndexReport, or the vectors of an embedding stage)."""
    while True:
        try:
            event = next(events)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(event)

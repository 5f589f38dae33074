"""Indexing a BEIR-format corpus into its own index, with the chatbot's chunking, embedding cache
and store, so ``eval --dataset`` measures the chatbot's retrieval and never touches the live index.

Each corpus document becomes passages of ``title + " " + text`` whose ``source`` is the document
id; the index lives under ``<index_dir>/eval/<dataset>/`` and is reused while the model, the
chunk settings and the corpus are unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from pathlib import Path

from bot.chunking import make_splitter
from bot.documents import Chunk, Progress, chunk_id
from bot.embeddings import model_identity
from bot.indexer import chunk_metadata, drive, embed_with_cache
from bot.progress import CliProgress
from bot.retrieval import SearchIndex
from bot.store import EmbeddedStore, Version, new_version_id

log = logging.getLogger(__name__)


def corpus_chunks(corpus: dict[str, tuple[str, str]], chunk_size: int, overlap: int) -> list[Chunk]:
    splitter = make_splitter(chunk_size, overlap)
    chunks = []
    for doc_id, (title, text) in corpus.items():
        body = f"{title} {text}".strip() if title else text.strip()
        if not body:
            continue
        pieces = [body] if len(body) <= chunk_size else splitter.split_text(body)
        for position, piece in enumerate(pieces):
            chunks.append(Chunk(id=chunk_id(doc_id, None, position, piece), text=piece,
                                source=doc_id, title="", doc_type="evidence", page=None,
                                section=None, position=position))
    return chunks


def beir_index(bot, folder: Path, corpus: dict[str, tuple[str, str]], progress: bool = True
               ) -> SearchIndex:
    settings = bot.settings
    store = EmbeddedStore(Path(settings.index_dir) / "eval" / folder.name)
    model = model_identity(bot.embeddings)
    chunking = settings.chunking
    digest = hashlib.sha256("\x00".join(f"{k}\x01{t}\x01{x}" for k, (t, x) in
                                        sorted(corpus.items())).encode()).hexdigest()[:16]
    live = store.live()
    if live and live.model == model and live.chunking == chunking and \
            store.read_registry(live.id).get("corpus") == digest:
        return SearchIndex(live.id, store.collection(live.id))
    with store.lock("eval"):
        store.clean_orphans()
        chunks = corpus_chunks(corpus, settings.chunk_size, settings.chunk_overlap)
        with CliProgress(enabled=progress) as bar:
            vectors, _ = drive(_embed(bot, chunks), bar.update)
        version_id = new_version_id()
        collection = store.create_collection(version_id)
        for start in range(0, len(chunks), 1000):
            batch = chunks[start:start + 1000]
            collection.add(ids=[c.id for c in batch], embeddings=vectors[start:start + len(batch)],
                           documents=[c.text for c in batch],
                           metadatas=[chunk_metadata(c) for c in batch])
        version = Version(id=version_id, created=dt.datetime.now(dt.timezone.utc).isoformat(
            timespec="seconds"), model=model, dimension=int(vectors.shape[1]), chunking=chunking,
            documents=len(corpus), chunks=len(chunks))
        store.write_registry(version_id, {"corpus": digest})
        store.publish(version, keep=2)
    log.info("beir_index_built dataset=%s documents=%s chunks=%s", folder.name, len(corpus),
             len(chunks))
    return SearchIndex(version_id, store.collection(version_id))


def _embed(bot, chunks: list[Chunk]):
    result = yield from embed_with_cache(bot.embeddings, bot.cache(),
                                         [c.search_text for c in chunks])
    yield Progress("done", 1, 1)
    return result

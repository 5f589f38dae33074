"""Indexing a BEIR-format corpus into its own index, with the chatbot's chunking, embedding cache
and store, so ``eval --dataset`` measures the chatbot's retrieval and never touches the live index.

Each corpus document becomes passages whose header is its title and whose text is its text (cut
like the chatbot's passages, or whole with ``--whole-documents``), so every passage is embedded
and keyword-indexed as ``title + text``; the ``source`` of each is the document id. The index
lives under ``<index_dir>/eval/<dataset>/`` (``<dataset>-whole/`` for whole documents; or, with
``BOT_CHROMA_URL``, in the server's ``eval_<dataset>_*`` collections) and is reused while the
model, the chunk settings and the corpus are unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from pathlib import Path

from bot.documents import Chunk, Progress, chunk_id
from bot.ingest.chunking import make_splitter
from bot.ingest.indexer import chunk_metadata, drive, embed_with_cache
from bot.models.embeddings import model_identity
from bot.progress import CliProgress
from bot.search.retrieval import SearchIndex
from bot.store import Version, new_version_id, open_store

log = logging.getLogger(__name__)

# Part of the corpus digest: a change to how passages are made rebuilds cached eval indexes.
PASSAGE_FORMAT = "title-header-v2"


def corpus_chunks(corpus: dict[str, tuple[str, str]], chunk_size: int | None, overlap: int
                  ) -> list[Chunk]:
    """Passages of each document: its title as the header (so every passage is embedded and
    keyword-indexed as ``title + text``, as BEIR prescribes) and its text, whole when
    ``chunk_size`` is None or the text fits, else split like the chatbot's passages."""
    splitter = make_splitter(chunk_size, overlap) if chunk_size else None
    chunks = []
    for doc_id, (title, text) in corpus.items():
        title, text = title.strip(), text.strip()
        if not text:
            title, text = "", title
        if not text:
            continue
        pieces = (splitter.split_text(text) if splitter and chunk_size and len(text) > chunk_size
                  else [text])
        for position, piece in enumerate(pieces):
            chunks.append(Chunk(id=chunk_id(doc_id, None, position, piece), text=piece,
                                source=doc_id, title=title, doc_type="evidence", page=None,
                                section=None, position=position))
    return chunks


def beir_index(bot, folder: Path, corpus: dict[str, tuple[str, str]], progress: bool = True,
               whole: bool = False) -> SearchIndex:
    """The dataset's own index: passages cut like the chatbot's, or (``whole``) one passage per
    document, as the published BEIR baselines index them."""
    settings = bot.settings
    store = open_store(settings, "eval", folder.name + ("-whole" if whole else ""))
    model = model_identity(bot.embeddings)
    chunking = {"chunk_size": 0, "chunk_overlap": 0} if whole else settings.chunking
    digest = hashlib.sha256("\x00".join([PASSAGE_FORMAT] + [
        f"{k}\x01{t}\x01{x}" for k, (t, x) in sorted(corpus.items())]).encode()).hexdigest()[:16]
    live = store.live()
    if live and live.model == model and live.chunking == chunking and \
            store.read_registry(live.id).get("corpus") == digest:
        return SearchIndex(live.id, store.collection(live.id))
    with store.lock("eval"):
        store.clean_orphans()
        chunks = corpus_chunks(corpus, None if whole else settings.chunk_size,
                               settings.chunk_overlap)
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

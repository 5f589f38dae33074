"""The large synthetic index the benchmark times answers on: the real passages plus synthetic ones
made of their sentences, with vectors blended from theirs, and the sentence vectors a real index
stores for the answerer (``python -m bot bench --synthetic N``)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def synthetic_index(source_bot, work: Path, total: int, embeddings) -> tuple[Path, float]:
    """An index of ``total`` passages: the real ones plus synthetic passages made of sentences of
    three real passages, with a vector blended from theirs and some noise. Their words and
    vectors look like the library's, so BM25 and the vector index work as hard as they would.
    Like the indexer, it stores every passage's sentence vectors in the index's embedding cache
    (:func:`store_sentence_vectors`), so that answers look them up rather than embed them."""
    import datetime as dt

    from bot.models.embeddings import model_identity
    from bot.search.retrieval import get_all
    from bot.store import EmbeddedStore, Version, new_version_id

    index = source_bot.search_index()
    got = get_all(index.collection, ["embeddings"])
    position = {cid: i for i, cid in enumerate(got["ids"])}
    vectors = np.asarray(got["embeddings"], dtype=np.float32)[[position[c] for c in index.ids]]
    rng = np.random.default_rng(0)
    sentences = [[s for s in t.replace("\n", " ").split(". ") if s] or [t] for t in index.texts]
    store = EmbeddedStore(work / "synthetic")
    version_id = new_version_id()
    collection = store.create_collection(version_id)
    started = time.perf_counter()
    n_real = len(index.ids)
    made: list[str] = []
    made_vectors: list[np.ndarray] = []
    collection.add(ids=index.ids, embeddings=vectors, documents=index.texts,
                   metadatas=index.metadatas)
    for start in range(0, max(total - n_real, 0), 1000):
        size = min(1000, total - n_real - start)
        picks = rng.integers(0, n_real, size=(size, 3))
        mix = vectors[picks] * np.array([0.5, 0.3, 0.2], dtype=np.float32)[None, :, None]
        vecs = mix.sum(axis=1) + rng.normal(0, 0.02, (size, vectors.shape[1])).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        texts, metas = [], []
        for j, row in enumerate(picks):
            parts = [sentences[r][int(rng.integers(len(sentences[r])))] for r in row]
            texts.append(". ".join(parts) + ".")
            meta = dict(index.metadatas[row[0]])
            meta.update({"source": f"synthetic/doc-{(start + j) // 20}.md",
                         "title": f"Synthetic {(start + j) // 20}", "position": (start + j) % 20})
            metas.append(meta)
        collection.add(ids=[f"syn-{start + j}" for j in range(size)], embeddings=vecs,
                       documents=texts, metadatas=metas)
        made.extend(texts)
        made_vectors.append(vecs)
    seconds = time.perf_counter() - started
    store_sentence_vectors(source_bot, work / "synthetic", embeddings, made,
                           np.concatenate(made_vectors), rng)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    store.publish(Version(id=version_id, created=now, model=model_identity(embeddings),
                          dimension=int(vectors.shape[1]), chunking=source_bot.settings.chunking,
                          documents=total // 20, chunks=total), keep=2)
    return work / "synthetic", seconds


def store_sentence_vectors(source_bot, index_dir: Path, embeddings, texts: list[str],
                           vectors: np.ndarray, rng: np.random.Generator) -> int:
    """What indexing does for the answerer, done for the synthetic passages: a vector for every
    sentence of ``texts`` in ``index_dir``'s embedding cache. The real sentences' come from a copy
    of the real index's cache; a synthetic passage's other sentences (where its joins cut real
    sentences differently) get its own blended vector with some noise, as the passage itself
    did, rather than hours of encoding. Without them each answer embedded its passages'
    sentences afresh, which the product never does (whole-answer p95 at 50,000 passages: 149 ms
    for questions asked once, 36 ms asked again). Returns the number of sentences given
    synthetic vectors."""
    from bot.ingest.sentences import split_sentences
    from bot.models.cache import EmbeddingCache
    from bot.models.embeddings import model_identity

    target = EmbeddingCache(index_dir / "cache" / "embeddings.sqlite",
                            model_identity(embeddings))
    target.copy_from(source_bot.cache())
    made: dict[str, np.ndarray] = {}
    for start in range(0, len(texts), 1000):
        batch = {EmbeddingCache.key(s.clean): i for i in range(start, min(start + 1000, len(texts)))
                 for s in split_sentences(texts[i])}
        have = target.get_many(batch)
        for key, i in batch.items():
            if key not in have and key not in made:
                noise = np.asarray(rng.normal(0, 0.02, vectors.shape[1]), dtype=np.float32)
                noisy = vectors[i] + noise
                made[key] = noisy / np.linalg.norm(noisy)
    target.put_many(made)
    return len(made)

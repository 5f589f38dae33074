"""Hybrid retrieval: dense (Chroma) and BM25 (bm25s) fused by reciprocal rank, with filters and
per-document diversity, behind LangChain's ``BaseRetriever``.

:class:`SearchIndex` is one index version loaded for searching: the Chroma collection plus a BM25
model over the same passages (title and section prepended), built when the version is opened.
:class:`HybridRetriever` ranks passages for a question; the chatbot, ``eval`` and ``bench`` all use
it, so the figures they report are the chatbot's own.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from bot.documents import asked_texts, heading_text, is_reading_list
from bot.errors import ConfigError
from bot.search.filters import matches, normalise_filters, superseded_sources

log = logging.getLogger(__name__)

MODES = ("dense", "bm25", "hybrid")
# The section of an evidence summary that says what a study found.
FINDINGS_SECTION = re.compile(r"\b(what (it|they|the \w+) found|findings?|results?|outcomes?|"
                              r"conclusions?)\b", re.I)


def _stemmer():
    try:
        import Stemmer

        return Stemmer.Stemmer("english")
    except ImportError:  # PyStemmer is optional: BM25 still works, a little less well
        return None


def _bm25s():
    import bm25s

    # bm25s sets its own logger to DEBUG when imported; keep our logging configuration.
    logging.getLogger("bm25s").setLevel(max(logging.getLogger().level, logging.INFO))
    return bm25s


def tokenize(texts: Sequence[str], stemmer=None):
    bm25s = _bm25s()
    return bm25s.tokenize(list(texts), stopwords="en", stemmer=stemmer, show_progress=False)


def query_tokens(text: str, stemmer=None) -> list[str]:
    bm25s = _bm25s()
    return bm25s.tokenize([text], stopwords="en", stemmer=stemmer, return_ids=False,
                          show_progress=False)[0]


def search_text(document: str, metadata: dict[str, Any]) -> str:
    """Title and section are part of what a passage is about; index them with its text."""
    section = metadata.get("section_path") or metadata.get("section")
    title = metadata.get("title", "")
    header = f"{title} - {section}" if section and section != title else title
    return f"{header}\n{document}" if header else document


def get_all(collection: Any, include: list[str], page: int = 5000) -> dict[str, list]:
    """Every row of a collection, a page at a time: one ``get()`` of more than about 32,000 rows
    exceeds SQLite's limit on query variables inside Chroma."""
    out: dict[str, list] = {"ids": [], **{key: [] for key in include}}
    offset = 0
    while True:
        got = collection.get(include=include, limit=page, offset=offset)
        for key in out:
            out[key].extend(got[key] if got[key] is not None else [])
        if len(got["ids"]) < page:
            return out
        offset += page


class SearchIndex:
    """One index version, ready to search: its Chroma collection and a BM25 model of its passages."""

    def __init__(self, version_id: str, collection: Any, bm25_k1: float = 1.2,
                 bm25_b: float = 0.75, embed_headings: Any = None) -> None:
        bm25s = _bm25s()
        # texts -> vectors for the heading channel (the wiring passes one that reads the
        # embedding cache, where the indexer stored every heading's vector)
        self.embed_headings = embed_headings
        self.version_id = version_id
        self.collection = collection
        got = get_all(collection, ["documents", "metadatas"])
        self.ids: list[str] = list(got["ids"])
        self.texts: list[str] = list(got["documents"])
        self.metadatas: list[dict[str, Any]] = [dict(m or {}) for m in got["metadatas"]]
        self.position = {cid: i for i, cid in enumerate(self.ids)}
        self.superseded = superseded_sources(self.metadatas)
        self.stemmer = _stemmer()
        self.bm25 = bm25s.BM25(k1=bm25_k1, b=bm25_b)
        # How many passages use each (stemmed) word: the scope check weighs words by it.
        self.document_frequency: Counter[str] = Counter()
        if self.ids:
            corpus = [search_text(t, m) for t, m in zip(self.texts, self.metadatas)]
            tokenized = tokenize(corpus, self.stemmer)
            word = {i: w for w, i in tokenized.vocab.items()}
            for ids in tokenized.ids:
                self.document_frequency.update(word[i] for i in set(ids))
            self.bm25.index(tokenized, show_progress=False)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def _rows_by_source(self) -> dict[str, list[int]]:
        by_source: dict[str, list[int]] = {}
        for row, meta in enumerate(self.metadatas):
            by_source.setdefault(meta.get("source", ""), []).append(row)
        return by_source

    @cached_property
    def _reading_lists(self) -> set[int]:
        return {row for row, meta in enumerate(self.metadatas)
                if is_reading_list(meta.get("section"))}

    def is_reading_list(self, row: int) -> bool:
        """Whether a passage is a document's "Sources and further reading" list."""
        return row in self._reading_lists

    def rows_of(self, source: str) -> list[int]:
        """The rows of one document's passages, in index order (grouped on first use)."""
        return self._rows_by_source.get(source, [])

    def sources(self) -> list[str]:
        return sorted({m.get("source", "") for m in self.metadatas})

    def mask(self, filters: dict[str, Any] | None) -> np.ndarray | None:
        if not filters:
            return None
        keep = np.ones(len(self.ids), dtype=bool)
        for i, meta in enumerate(self.metadatas):
            keep[i] = matches(meta, filters)
        return keep

    def bm25_scores(self, query: str) -> np.ndarray:
        tokens = query_tokens(query, self.stemmer)
        if not tokens or not self.ids:
            return np.zeros(len(self.ids), dtype=np.float32)
        with self._lock:  # bm25s keeps per-call state
            return np.asarray(self.bm25.get_scores(tokens), dtype=np.float32)

    @cached_property
    def vectors(self) -> np.ndarray:
        """Every passage's vector, row for row with ``ids``, loaded on the first dense search."""
        got = get_all(self.collection, ["embeddings"])
        matrix = np.zeros((len(self.ids), len(got["embeddings"][0]) if self.ids else 0),
                          dtype=np.float32)
        for cid, emb in zip(got["ids"], got["embeddings"]):
            if cid in self.position:
                matrix[self.position[cid]] = np.asarray(emb, dtype=np.float32)
        return matrix

    @cached_property
    def heading_vectors(self) -> np.ndarray | None:
        """Each passage's section heading as a vector, row for row with ``ids``: guidance is
        written under question-like headings, so a question that matches a heading has found
        the section that answers it. None when no embedder was given."""
        if self.embed_headings is None or not self.ids:
            return None
        headings = [heading_text(m) for m in self.metadatas]
        unique = list(dict.fromkeys(headings))
        vectors = np.asarray(self.embed_headings(unique), dtype=np.float32)
        row_of = {h: i for i, h in enumerate(unique)}
        return vectors[[row_of[h] for h in headings]]

    @cached_property
    def asked_vectors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Staff's other phrasings of sections' questions: (the row each belongs to, its
        vector); None when there are none."""
        asked = [(r, t) for r, m in enumerate(self.metadatas) for t in asked_texts(m)]
        if self.embed_headings is None or not asked:
            return None
        # rows in order, so that each row's best phrasing is one np.maximum.reduceat away
        return (np.asarray([r for r, _ in asked]),
                np.asarray(self.embed_headings([t for _, t in asked]), dtype=np.float32))

    def heading_scores(self, vector: Sequence[float], rows: Sequence[int] | None = None
                       ) -> np.ndarray:
        """Cosine similarity of each passage's heading to the question (of ``rows``, or of all),
        or of the best of staff's other phrasings of its question when one is closer."""
        assert self.heading_vectors is not None
        q = np.asarray(vector, dtype=np.float32)
        picked = None if rows is None else np.asarray(list(rows), dtype=int)
        # every passage: the matrix as it is (picking all its rows would copy it)
        scores = (self.heading_vectors if picked is None else self.heading_vectors[picked]) @ q
        if self.asked_vectors is not None:
            owner, vectors = self.asked_vectors
            starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
            best = np.full(len(self.ids), -np.inf, dtype=np.float32)
            best[owner[starts]] = np.maximum.reduceat(vectors @ q, starts)
            scores = np.maximum(scores, best if picked is None else best[picked])
        return scores

    def dense(self, vector: Sequence[float], n: int, filters: dict[str, Any] | None,
              matrix: np.ndarray | None = None, scores: np.ndarray | None = None
              ) -> list[tuple[int, float]]:
        """The ``n`` nearest passages by cosine similarity, found exhaustively. Chroma's HNSW
        index is approximate: with 1,271 passages it missed the 24th nearest passage of a
        question outright, so a question could rank differently from process to process; one
        matrix product over the stored vectors is exact and takes milliseconds (benchmarks.md)."""
        if not self.ids:
            return []
        if scores is None:
            scores = (self.vectors if matrix is None else matrix) @ np.asarray(vector,
                                                                               dtype=np.float32)
        mask = self.mask(filters)
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        top = min(n, len(scores))
        rows = np.argpartition(-scores, top - 1)[:top]
        rows = rows[np.argsort(-scores[rows])]
        return [(int(r), float(scores[r])) for r in rows if np.isfinite(scores[r])]

    def similarities(self, vector: Sequence[float] | None, rows: Sequence[int],
                     headings: bool = False) -> dict[int, float]:
        """Cosine similarity to the question of ``rows`` (or their section headings) from the
        vectors in memory (no call to Chroma per question); empty with nothing to compare."""
        if vector is None or not rows or (headings and self.heading_vectors is None):
            return {}
        scores = (self.heading_scores(vector, rows) if headings
                  else self.vectors[list(rows)] @ np.asarray(vector, dtype=np.float32))
        return {int(r): float(v) for r, v in zip(rows, scores)}


@dataclass
class Hit:
    row: int
    score: float          # fused score
    dense: float | None   # cosine similarity to the question
    bm25: float
    heading: float | None = None  # cosine similarity of its section heading to the question


def rrf(rankings: Sequence[tuple[float, Sequence[int]]], k: int) -> dict[int, float]:
    """Weighted reciprocal-rank fusion: sum over rankings of weight / (k + rank)."""
    fused: dict[int, float] = {}
    for weight, ranking in rankings:
        for rank, row in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + weight / (k + rank)
    return fused


class HybridRetriever(BaseRetriever):
    """Dense + BM25 with reciprocal-rank fusion, filters and per-document diversity."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any
    embeddings: Any
    k: int = 5
    candidates: int = 40
    max_per_doc: int = 2
    rrf_k: int = 10           # defaults as in bot.config.Settings (tuned; docs/benchmarks.md)
    dense_weight: float = 1.0
    bm25_weight: float = 1.1
    heading_weight: float = 0.5
    mode: str = "hybrid"
    filters: dict[str, Any] = {}

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None) -> list[Document]:
        """LangChain's entry point: ``invoke(query)``, or ``invoke(query, k=1)`` for fewer."""
        return self.search(query, k=k)

    def search(self, query: str, k: int | None = None, filters: dict[str, Any] | None = None,
               vector: Sequence[float] | None = None, max_per_doc: int | None = None,
               asked: Sequence[float] | None = None) -> list[Document]:
        hits = self.rank(query, k=k, filters=filters, vector=vector, max_per_doc=max_per_doc,
                         asked=asked)
        return [self.to_document(hit) for hit in hits]

    def rank(self, query: str, k: int | None = None, filters: dict[str, Any] | None = None,
             vector: Sequence[float] | None = None, max_per_doc: int | None = None,
             asked: Sequence[float] | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query`` (its vector ``vector``). ``asked``: the vector
        of the question's asking part (bot.search.asking), when it has a story around it; the
        headings are matched against it as well as against the whole question."""
        if self.mode not in MODES:
            raise ConfigError(f"Unknown retrieval mode '{self.mode}': use dense, bm25 or hybrid.")
        k = k or self.k
        limit = max_per_doc or self.max_per_doc
        flt = normalise_filters(filters if filters is not None else self.filters)
        index: SearchIndex = self.index
        if not len(index):
            return []
        if vector is None and self.mode != "bm25":
            vector = self.embeddings.embed_query(query)
        dense: list[tuple[int, float]] = []
        headings: list[tuple[int, float]] = []
        heading_scores = None  # every passage's heading match: the better of question and ask
        if vector is not None and index.heading_vectors is not None:
            heading_scores = index.heading_scores(vector)
            if asked is not None:
                heading_scores = np.maximum(heading_scores, index.heading_scores(asked))
        if self.mode != "bm25":
            dense = index.dense(vector, self.candidates, flt)
            if self.heading_weight and heading_scores is not None:
                headings = index.dense(vector, self.candidates, flt, scores=heading_scores)
        bm25_ranked: list[int] = []
        scores = np.zeros(0)
        if self.mode != "dense":
            scores = index.bm25_scores(query)
            mask = index.mask(flt)
            if mask is not None:
                scores = np.where(mask, scores, 0.0)
            top = min(self.candidates, len(scores))
            order = np.argpartition(-scores, top - 1)[:top]
            bm25_ranked = [int(r) for r in order[np.argsort(-scores[order])] if scores[r] > 0]
        dense_score = dict(dense)
        fused = rrf([(self.dense_weight, [r for r, _ in dense]),
                     (self.bm25_weight, bm25_ranked),
                     (self.heading_weight, [r for r, _ in headings])], self.rrf_k)
        ordered = sorted(fused, key=lambda r: (-fused[r], -dense_score.get(r, -1.0)))
        chosen: list[int] = []
        per_doc: dict[str, int] = {}
        for row in ordered:
            source = index.metadatas[row].get("source", "")
            if source in index.superseded and "source" not in flt:
                continue
            if index.is_reading_list(row):
                continue  # a list of sources answers nothing and would take the document's place
            if per_doc.get(source, 0) >= limit:
                continue
            per_doc[source] = per_doc.get(source, 0) + 1
            chosen.append(row)
            if len(chosen) >= k:
                break
        dense_score.update(index.similarities(vector, [r for r in chosen if r not in dense_score]))
        heading = ({r: float(heading_scores[r]) for r in chosen} if heading_scores is not None
                   else {})
        return [Hit(row, fused[row], dense_score.get(row),
                    float(scores[row]) if len(scores) else 0.0, heading.get(row))
                for row in chosen]

    def add_findings(self, docs: list[Document], vector: Sequence[float] | None
                     ) -> list[Document]:
        """For a question about what a study found: the findings section of the best-ranked
        evidence summary among the first three passages, when retrieval matched its other
        sections instead ("What was done" answers "did it change anything?" badly). It goes in
        after that summary's passage, and the lowest-ranked passage makes room."""
        index: SearchIndex = self.index
        for doc in docs[:3]:
            if doc.metadata.get("doc_type") != "evidence":
                continue
            source = doc.metadata.get("source", "")
            if any(d.metadata.get("source") == source
                   and FINDINGS_SECTION.search(str(d.metadata.get("section") or "")) for d in docs):
                return docs
            rows = [r for r in index.rows_of(source)
                    if FINDINGS_SECTION.search(str(index.metadatas[r].get("section") or ""))]
            if not rows:
                return docs
            # The findings passage closest to the question (a long section has several).
            similar = index.similarities(vector, rows)
            row = max(rows, key=lambda r: (similar.get(r, 0.0),
                                           -int(index.metadatas[r].get("position", 0))))
            heading = index.similarities(vector, [row], headings=True)
            found = self.to_document(Hit(row, 0.0, similar.get(row), 0.0, heading.get(row)))
            at = docs.index(doc) + 1
            # The lowest-ranked passage makes room only when the list is full.
            return (docs[:at] + [found] + docs[at:])[:max(len(docs), self.k)]
        return docs

    def to_document(self, hit: Hit) -> Document:
        index: SearchIndex = self.index
        meta = dict(index.metadatas[hit.row])
        meta.update({"id": index.ids[hit.row], "score": hit.score, "dense_score": hit.dense,
                     "bm25_score": hit.bm25, "heading_score": hit.heading})
        return Document(page_content=index.texts[hit.row], metadata=meta, id=index.ids[hit.row])

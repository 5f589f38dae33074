"""The one composition root that wires settings, models and stores together, and the bot it builds.

:func:`build_bot` is the only place that turns :class:`~bot.config.Settings` into an embedder, a
store and an answerer. :class:`Bot` answers questions (through the question pipeline,
:class:`bot.answer.pipeline.QuestionPipeline`, from a consistent index version, reloading when
the manifest says a new one is live), runs the indexing generator, reports status and rolls
back. Front-ends call these methods and render what they return; they decide nothing themselves.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.answer.deciding import AnswerCheck
from bot.answer.extractive import ExtractiveAnswerer
from bot.answer.pipeline import QuestionPipeline
from bot.config import Settings
from bot.documents import Answer, IndexReport, Progress
from bot.errors import ConfigError
from bot.ingest.indexer import IndexJob, cached_vectors, run_index
from bot.models.cache import EmbeddingCache
from bot.models.embeddings import embeddings_for, model_identity
from bot.policy.scope import ScopeJudge
from bot.search.retrieval import HybridRetriever, SearchIndex
from bot.store import EmbeddedStore, Version, open_store

log = logging.getLogger(__name__)


@dataclass
class Status:
    ready: bool
    version: str | None
    documents: int
    chunks: int
    model: str
    last_indexed: str | None
    versions: list[dict[str, Any]]
    docs_dir: str
    index_dir: str
    backend: str
    store: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Bot:
    def __init__(self, settings: Settings, embeddings, store: EmbeddedStore,
                 chat_model=None) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.store = store
        self.chat_model = chat_model
        self.extractive = ExtractiveAnswerer(embeddings)
        self.llm = None  # the LLM answerer, when an LLM backend is configured
        if chat_model is not None:
            from bot.answer.llm import LLMAnswerer

            self.llm = LLMAnswerer(chat_model, self.extractive, settings.llm)
        self.scope = ScopeJudge(embeddings, min_combined=settings.min_relevance)
        self._index: SearchIndex | None = None
        self._stamp: object = None
        self._lock = threading.Lock()
        self._cache: EmbeddingCache | None = None
        self._feedback = None
        self._checks = None
        # retriever and policy_checks are looked up on each question (lambdas, not bound
        # methods), so the pipeline always uses what this bot has now
        self.relevance = relevance_model_for(settings, embeddings)
        self.pipeline = QuestionPipeline(
            settings, embeddings, self.extractive, self.llm, self.scope,
            retriever=lambda: self.retriever(), policy_checks=lambda: self.policy_checks(),
            answer_check=AnswerCheck.load(relevance=self.relevance))

    # -- searching -------------------------------------------------------------------------------

    def search_index(self) -> SearchIndex:
        """The live version, loaded once and reloaded when the manifest changes."""
        stamp = self.store.manifest_stamp()
        with self._lock:
            if self._index is None or stamp != self._stamp:
                version = self.store.require_live()
                model = model_identity(self.embeddings)
                if version.model != model:  # never a dimension error from Chroma
                    raise ConfigError(
                        f"The live index was built with the embedding model '{version.model}', "
                        f"but this app uses '{model}': run 'python -m bot index' to rebuild the "
                        "index with it, or set BOT_EMBED_MODEL and BOT_EMBED_BACKEND back.")
                if self._index is None or self._index.version_id != version.id:
                    started = time.perf_counter()
                    self._index = SearchIndex(version.id, self.store.collection(version.id),
                                              embed_headings=self._embed_headings)
                    log.info("index_loaded version=%s chunks=%s seconds=%.2f", version.id,
                             len(self._index), time.perf_counter() - started)
                    if self.extractive.cache is None:
                        self.extractive.cache = self._sentence_cache()
                self._stamp = stamp
            return self._index

    def retriever(self, index: SearchIndex | None = None, mode: str = "hybrid") -> HybridRetriever:
        s = self.settings
        return HybridRetriever(
            index=index or self.search_index(), embeddings=self.embeddings, k=s.top_k,
            candidates=s.candidates, max_per_doc=s.max_per_doc, rrf_k=s.rrf_k,
            dense_weight=s.dense_weight, bm25_weight=s.bm25_weight,
            heading_weight=s.heading_weight, mode=mode)

    def _embed_headings(self, texts: list[str]):
        """Section headings' vectors for the heading ranking, from the embedding cache (the
        indexer stores them there) or embedded once when the version is loaded."""
        return cached_vectors(self.embeddings, self._sentence_cache(), texts)

    # -- asking ----------------------------------------------------------------------------------

    def ask(self, question: str, history: Sequence[dict[str, str]] | None = None,
            filters: dict[str, Any] | None = None, k: int | None = None) -> Answer:
        """Answer a question (with the conversation so far) from the live index."""
        return self.pipeline.ask(question, history, filters, k)

    def ask_stream(self, question: str, history: Sequence[dict[str, str]] | None = None,
                   filters: dict[str, Any] | None = None, k: int | None = None
                   ) -> Iterator[str | Answer]:
        """Like :meth:`ask`, but yields the LLM's text as it arrives (str), then the checked
        :class:`Answer`. Without an LLM it yields only the answer."""
        return self.pipeline.ask_stream(question, history, filters, k)

    def policy_checks(self):
        """The semantic checks of bot/policy (harmful requests, safeguarding situations),
        trained on first use; None with the fake hashing embedder of the unit tests, whose
        vectors carry no meaning."""
        if self._checks is None and not model_identity(self.embeddings).startswith("fake"):
            from bot.policy.detector import PolicyChecks

            self._checks = PolicyChecks(self.embeddings, cache=self.cache())
        return self._checks

    # -- indexing --------------------------------------------------------------------------------

    def feedback(self):
        """The feedback store (SQLite in the index folder, or BOT_DATABASE_URL), opened once."""
        if self._feedback is None:
            from bot.store.feedback import FeedbackStore

            self._feedback = FeedbackStore(self.settings.feedback_url)
        return self._feedback

    def evidence_table(self) -> list[dict[str, Any]]:
        """One row per evidence summary in the live index, for the evidence browser."""
        index = self.search_index()
        rows: dict[str, dict[str, Any]] = {}
        for meta in index.metadatas:
            if meta.get("doc_type") != "evidence" or meta.get("source") in rows:
                continue
            rows[meta["source"]] = {key: str(meta.get(key, "") or "") for key in (
                "source", "title", "year", "art_forms", "settings", "outcomes",
                "evidence_strength", "organisation", "country")}
        return sorted(rows.values(), key=evidence_order)

    def _sentence_cache(self) -> EmbeddingCache | None:
        """The cache the indexer stored the sentence vectors in; without it (a read-only index
        folder) answers embed their sentences, more slowly but the same."""
        try:
            return self.cache()
        except (OSError, sqlite3.Error) as exc:
            log.warning("sentence_cache_unavailable error=%s", exc)
            return None

    def cache(self) -> EmbeddingCache:
        if self._cache is None:
            self._cache = EmbeddingCache(self.settings.index_dir / "cache" / "embeddings.sqlite",
                                         model_identity(self.embeddings))
        return self._cache

    def index(self, full: bool = False, dry_run: bool = False, docs_dir: Path | None = None
              ) -> Generator[Progress, None, IndexReport]:
        from bot.store import writable_folder

        writable_folder(Path(self.settings.index_dir))
        job = IndexJob(docs_dir=Path(docs_dir or self.settings.docs_dir), store=self.store,
                       embeddings=self.embeddings, cache=self.cache(),
                       chunk_size=self.settings.chunk_size,
                       chunk_overlap=self.settings.chunk_overlap,
                       keep_versions=self.settings.keep_versions)
        return run_index(job, full=full, dry_run=dry_run)

    def status(self) -> Status:
        live = self.store.live()
        return Status(
            ready=live is not None, version=live.id if live else None,
            documents=live.documents if live else 0, chunks=live.chunks if live else 0,
            model=live.model if live else model_identity(self.embeddings),
            last_indexed=live.created if live else None,
            versions=[v.to_dict() for v in self.store.versions()],
            docs_dir=str(self.settings.docs_dir), index_dir=str(self.settings.index_dir),
            backend=self.settings.llm, store="chroma-server" if self.settings.chroma_url
            else "embedded",
        )

    def rollback(self) -> Version:
        with self.store.lock("rollback"):
            return self.store.rollback()

    def require_index(self) -> None:
        self.store.require_live()


STRENGTH_ORDER = ("strong", "moderate", "limited", "very limited", "review")


def first_year(text: str) -> int | None:
    """The first four-digit year in a summary's ``year`` ("2015 and 2016", "c.2014")."""
    import re

    found = re.search(r"(19|20)\d\d", text or "")
    return int(found.group()) if found else None


def evidence_order(row: dict[str, Any]) -> tuple:
    """Strongest evidence first, then the newest, then by title."""
    strength = row.get("evidence_strength", "")
    rank = STRENGTH_ORDER.index(strength) if strength in STRENGTH_ORDER else len(STRENGTH_ORDER)
    return rank, -(first_year(row.get("year", "")) or 0), row.get("title", "").lower()


def one_blas_thread() -> None:
    """Answering is many small matrix-vector products (the question against the passages, the
    headings and staff's other phrasings of them); BLAS spreading each over every core costs
    more than it saves, and in the web app, which answers requests in parallel threads, it set
    eight clients fighting for two cores. Measured (docs/benchmarks.md, session 11): 26 -> 77
    answers/s over HTTP, and the whole extractive answer p95 44.6 -> 13.1 ms. The encoder
    (ONNX Runtime or PyTorch) keeps its own threads."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def relevance_model_for(settings: Settings, embeddings):
    """The relevance model (bot.models.relevance) the answer check reads, or None when it is
    switched off or the bot runs on another embedding model than the bundled one (the answer
    check was fitted with the bundled model's retrieval; the fake embedder of fast tests is
    another). It is exported beside the encoder (``<index>/models``, or wherever the encoder
    given to build_bot keeps its export)."""
    if not settings.relevance_model or "(bundled)" not in model_identity(embeddings):
        return None
    from bot.models.embeddings import bundled_model_path, models_dir
    from bot.models.relevance import RelevanceModel

    cache = getattr(embeddings, "cache_dir", None) or models_dir(settings.index_dir)
    return RelevanceModel(bundled_model_path(), cache)


def build_bot(settings: Settings, embeddings=None) -> Bot:
    """The composition root: settings in, a ready (lazily loading) bot out. ``BOT_CHROMA_URL``
    chooses the Chroma server store (nothing is then written to the embedded one)."""
    store = open_store(settings)  # first: a malformed BOT_CHROMA_URL fails before the model loads
    one_blas_thread()
    if embeddings is None:
        embeddings = embeddings_for(settings)
    chat_model = None
    if settings.llm in ("ollama", "openai"):
        from bot.models.chat import make_chat_model

        chat_model = make_chat_model(settings)
    return Bot(settings, embeddings, store, chat_model)

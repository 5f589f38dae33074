"""The use cases, and the one composition root that wires settings, models and stores together.

:func:`build_bot` is the only place that turns :class:`~bot.config.Settings` into an embedder, a
store and an answerer. :class:`Bot` answers questions (from a consistent index version, reloading
when the manifest says a new one is live), runs the indexing generator, reports status and rolls
back. Front-ends call these methods and render what they return; they decide nothing themselves.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.answer import EMPTY, TRUNCATED, ExtractiveAnswerer, decline, refuse
from bot.config import Settings
from bot.documents import Answer, IndexReport, Progress
from bot.embeddings import EmbeddingCache, make_embeddings, model_identity
from bot.errors import BotError, NoIndexError
from bot.indexer import IndexJob, run_index
from bot.retrieval import HybridRetriever, SearchIndex, normalise_filters
from bot.safety import is_harmful, is_personal_case
from bot.scope import ScopeJudge
from bot.store import EmbeddedStore, Version

log = logging.getLogger(__name__)

_FOLLOW_UP = re.compile(
    r"^(and|also|but|so|then|what about|how about|what if|same|ok|okay|and what|is that|"
    r"does that|do they|can they|is it|are they|how long|how much|how often|who|where|when)\b|"
    r"\b(it|that|this|they|them|those|these|there|he|she|one|ones)\b", re.I)
RULES_QUERY = " prohibited items rules security department report conditioning boundaries"


def standalone_question(question: str, history: Sequence[dict[str, str]] | None) -> str:
    """The question to search for: a follow-up ("how long does it take?") borrows the words of
    the previous user question. Offline and instant; an LLM backend may rewrite instead."""
    previous = [h.get("content", "") for h in (history or [])
                if h.get("role") == "user" and str(h.get("content", "")).strip()]
    if not previous:
        return question
    words = question.split()
    if len(words) <= 12 and (_FOLLOW_UP.search(question) or len(words) <= 5):
        return f"{previous[-1].strip()} {question}"
    return question


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
        self.scope = ScopeJudge(embeddings, min_combined=settings.min_relevance)
        self._index: SearchIndex | None = None
        self._stamp: object = None
        self._lock = threading.Lock()
        self._cache: EmbeddingCache | None = None

    # -- searching -------------------------------------------------------------------------------

    def search_index(self) -> SearchIndex:
        """The live version, loaded once and reloaded when the manifest changes."""
        stamp = self.store.manifest_stamp()
        with self._lock:
            if self._index is None or stamp != self._stamp:
                version = self.store.require_live()
                if self._index is None or self._index.version_id != version.id:
                    started = time.perf_counter()
                    self._index = SearchIndex(version.id, self.store.collection(version.id))
                    log.info("index_loaded version=%s chunks=%s seconds=%.2f", version.id,
                             len(self._index), time.perf_counter() - started)
                self._stamp = stamp
            return self._index

    def retriever(self, index: SearchIndex | None = None, mode: str = "hybrid") -> HybridRetriever:
        s = self.settings
        return HybridRetriever(
            index=index or self.search_index(), embeddings=self.embeddings, k=s.top_k,
            candidates=s.candidates, max_per_doc=s.max_per_doc, rrf_k=s.rrf_k,
            dense_weight=s.dense_weight, bm25_weight=s.bm25_weight, mode=mode)

    # -- asking ----------------------------------------------------------------------------------

    def ask(self, question: str, history: Sequence[dict[str, str]] | None = None,
            filters: dict[str, Any] | None = None, k: int | None = None) -> Answer:
        question = (question or "").strip()
        if not question:
            return Answer(text=EMPTY, citations=[], grounded=False, backend="none")
        notice = None
        limit = self.settings.max_question_chars
        if len(question) > limit:
            question = question[:limit]
            notice = TRUNCATED.format(n=limit)
        flt = normalise_filters(filters)
        searched = standalone_question(question, history)
        answer = self._answer(question, searched, flt, k)
        if notice:
            answer = _with_notice(answer, notice)
        if searched != question:
            answer = _replace(answer, searched=searched)
        return answer

    def _answer(self, question: str, searched: str, flt: dict[str, str], k: int | None) -> Answer:
        if is_personal_case(question):
            return decline(question, [], personal=True)
        retriever = self.retriever()
        q_vec = self.embeddings.embed_query(searched)
        if is_harmful(question):
            rules = retriever.search(question + RULES_QUERY, k=k or self.settings.top_k)
            return refuse(self.extractive, question, rules)
        docs = retriever.search(searched, k=k, filters=flt, vector=q_vec)
        verdict = self.scope.judge(searched, q_vec, docs, retriever.index) if docs else None
        if verdict is None or not verdict.covered:
            return decline(question, docs, pointer=verdict.pointer if verdict else None)
        if self.chat_model is None:
            return self.extractive.answer(searched, docs, q_vec)
        return self._llm_answer(searched, docs, q_vec)

    def _llm_answer(self, question: str, docs, q_vec) -> Answer:
        from bot.llm import LLMAnswerer

        answerer = LLMAnswerer(self.chat_model, self.extractive, self.settings.llm)
        try:
            return answerer.answer(question, docs, q_vec)
        except Exception as exc:  # any failure of the server: answer without it, and say so
            log.warning("llm_unavailable backend=%s error=%s", self.settings.llm, exc)
            answer = self.extractive.answer(question, docs, q_vec)
            return _with_notice(answer, "The language model could not be reached, so this "
                                "answer was put together directly from the guidance.")

    # -- indexing --------------------------------------------------------------------------------

    def cache(self) -> EmbeddingCache:
        if self._cache is None:
            self._cache = EmbeddingCache(self.settings.index_dir / "cache" / "embeddings.sqlite",
                                         model_identity(self.embeddings))
        return self._cache

    def index(self, full: bool = False, dry_run: bool = False, docs_dir: Path | None = None
              ) -> Generator[Progress, None, IndexReport]:
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
        if self.store.live() is None:
            raise NoIndexError("No index has been built yet: run 'python -m bot index' first.")


def _replace(answer: Answer, **changes: Any) -> Answer:
    from dataclasses import replace

    return replace(answer, **changes)


def _with_notice(answer: Answer, notice: str) -> Answer:
    combined = f"{answer.notice} {notice}" if answer.notice else notice
    return _replace(answer, notice=combined)


def build_bot(settings: Settings, embeddings=None) -> Bot:
    """The composition root: settings in, a ready (lazily loading) bot out."""
    if settings.chroma_url:
        raise BotError("BOT_CHROMA_URL (Chroma server mode) is not available in this version: "
                       "unset it to use the embedded index.")
    if embeddings is None:
        embeddings = make_embeddings(settings.embed_model, settings.embed_batch_size)
    store = EmbeddedStore(settings.index_dir)
    chat_model = None
    if settings.llm in ("ollama", "openai"):
        from bot.llm import make_chat_model

        chat_model = make_chat_model(settings)
    return Bot(settings, embeddings, store, chat_model)

"""The use cases, and the one composition root that wires settings, models and stores together.

:func:`build_bot` is the only place that turns :class:`~bot.config.Settings` into an embedder, a
store and an answerer. :class:`Bot` answers questions (from a consistent index version, reloading
when the manifest says a new one is live), runs the indexing generator, reports status and rolls
back. Front-ends call these methods and render what they return; they decide nothing themselves.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.answer.extractive import ExtractiveAnswerer, answers_question, asks_for_findings
from bot.answer.replies import EMPTY, TRUNCATED, decline, refuse
from bot.config import Settings
from bot.documents import Answer, IndexReport, Progress
from bot.errors import ConfigError
from bot.ingest.indexer import IndexJob, run_index
from bot.models.cache import EmbeddingCache
from bot.models.embeddings import embeddings_for, model_identity
from bot.policy.colloquial import expand
from bot.policy.safety import is_harmful, is_personal_case
from bot.policy.scope import ScopeJudge
from bot.search.retrieval import HybridRetriever, SearchIndex, normalise_filters
from bot.store import EmbeddedStore, Version, open_store

log = logging.getLogger(__name__)

_CONTINUES = re.compile(
    r"^(and|also|but|so|then|what about|how about|what if|same|ok|okay|and what|is that|"
    r"does that|do they|can they|is it|are they|how long|how much|how often|who|where|when)\b|"
    r"\b(should i have|should we have|was i (meant|supposed)|were we (meant|supposed)|"
    r"what was i|what did i do)\b", re.I)
_POINTS_BACK = re.compile(r"\b(it|that|this|they|them|those|these|he|she|him|her|too|either|"
                          r"instead)\b|\bone\b(?! of)", re.I)
RULES_QUERY = " prohibited items rules security department report conditioning boundaries"


def find_passages(retriever: HybridRetriever, searched: str, embed=None, k: int | None = None,
                  filters: dict[str, Any] | None = None) -> tuple[str, Any, list]:
    """What the bot searches for a standalone question, for the chat and for ``eval`` alike:
    the question plus the guidance's words for any everyday ones in it (embedded with ``embed``
    when given), and, for a question about what a study found, that study's findings section.
    Returns (query searched, its vector or None, passages)."""
    query = expand(searched)
    vector = embed(query) if embed is not None else None
    docs = retriever.search(query, k=k, filters=filters, vector=vector)
    if asks_for_findings(searched):
        docs = retriever.add_findings(docs, vector)
    return query, vector, docs


def standalone_question(question: str, history: Sequence[dict[str, str]] | None) -> str:
    """The question to search for: a follow-up ("how long does it take?") borrows the words of
    the previous user question. Offline and instant; an LLM backend may rewrite instead."""
    previous = [h.get("content", "") for h in (history or [])
                if h.get("role") == "user" and str(h.get("content", "")).strip()]
    if not previous:
        return question
    words = question.split()
    if (len(words) <= 3 or (len(words) <= 12 and _CONTINUES.search(question))
            or (len(words) <= 12 and _POINTS_BACK.search(question))):
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
                    self._index = SearchIndex(version.id, self.store.collection(version.id))
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
            dense_weight=s.dense_weight, bm25_weight=s.bm25_weight, mode=mode)

    # -- asking ----------------------------------------------------------------------------------

    def ask(self, question: str, history: Sequence[dict[str, str]] | None = None,
            filters: dict[str, Any] | None = None, k: int | None = None) -> Answer:
        """Answer a question (with the conversation so far) from the live index."""
        prepared = self._prepare(question, history, filters, k)
        if isinstance(prepared, Answer):
            return prepared
        if self.llm is None:
            return prepared.finish(self.extractive.answer(
                prepared.query, prepared.docs, prepared.q_vec,
                require_coverage=prepared.lead is None))
        if not self._library_answers(prepared):
            return prepared.finish(decline(question, prepared.docs))
        try:
            answer = self.llm.answer(prepared.searched, prepared.docs, prepared.q_vec)
        except llm_failures() as exc:  # the server failed: answer without it, and say so
            answer = self._fallback(prepared, exc)
        return prepared.finish(answer)

    def ask_stream(self, question: str, history: Sequence[dict[str, str]] | None = None,
                   filters: dict[str, Any] | None = None, k: int | None = None
                   ) -> Iterator[str | Answer]:
        """Like :meth:`ask`, but yields the LLM's text as it arrives (str), then the checked
        :class:`Answer`. Without an LLM it yields only the answer."""
        prepared = self._prepare(question, history, filters, k)
        if isinstance(prepared, Answer):
            yield prepared
            return
        if self.llm is None:
            yield prepared.finish(self.extractive.answer(
                prepared.query, prepared.docs, prepared.q_vec,
                require_coverage=prepared.lead is None))
            return
        if not self._library_answers(prepared):
            yield prepared.finish(decline(question, prepared.docs))
            return
        parts: list[str] = []
        try:
            for delta in self.llm.stream(prepared.searched, prepared.docs):
                parts.append(delta)
                yield "".join(parts)
            answer = self.llm.finish(prepared.searched, "".join(parts), prepared.docs)
        except llm_failures() as exc:  # the server failed mid-answer: answer without it, say so
            answer = self._fallback(prepared, exc)
        yield prepared.finish(answer)

    def _prepare(self, question: str, history, filters, k) -> Answer | _Prepared:
        """Everything before the answer is written: checks, the standalone question, retrieval,
        and the decisions to refuse or decline. Returns a final Answer when no answerer is needed."""
        question = (question or "").strip()
        if not question:
            return Answer(text=EMPTY, citations=[], grounded=False, backend="none")
        notice = None
        limit = self.settings.max_question_chars
        if len(question) > limit:
            question = question[:limit]
            notice = TRUNCATED.format(n=limit)
        flt = normalise_filters(filters)
        searched = self._standalone(question, history)
        prepared = _Prepared(question, searched, notice)
        if is_personal_case(question):
            return prepared.finish(decline(question, [], personal=True))
        retriever = self.retriever()
        checks = self.policy_checks()
        own = self.embeddings.embed_query(question) if checks else None
        if is_harmful(question) or (checks and checks.harm.matches(question, own)):
            rules = retriever.search(question + RULES_QUERY, k=k or self.settings.top_k)
            category = checks.category(own) if checks else "pattern rules"
            return prepared.finish(_replace(refuse(self.extractive, question, rules),
                                            category=category))
        if checks and checks.safeguarding.matches(question, own):
            prepared.lead = safeguarding_lead(retriever, checks.policy.safeguarding)
        def embed(text: str):  # the question's own vector, when it is what gets searched
            return own if own is not None and text == question else \
                self.embeddings.embed_query(text)

        prepared.query, prepared.q_vec, prepared.docs = find_passages(
            retriever, searched, embed, k, flt)
        verdict = (self.scope.judge(prepared.query, prepared.q_vec, prepared.docs, retriever.index)
                   if prepared.docs else None)
        # Someone at risk, told in the asker's own words, gets the guidance on what to do even
        # when the words match it weakly; another organisation's business is still declined.
        concern = prepared.lead is not None and verdict is not None and verdict.reason in (
            "weak", "unrelated")
        if verdict is None or not (verdict.covered or concern):
            # the closest documents are named only when they are close: never for a question
            # the library is plainly unrelated to ("what is the capital of France?")
            close = prepared.docs if verdict is not None and verdict.reason != "unrelated" else []
            return prepared.finish(decline(question, close,
                                           pointer=verdict.pointer if verdict else None))
        return prepared

    def _library_answers(self, prepared: _Prepared) -> bool:
        """Before an LLM writes anything: does the library answer at all? The same test as the
        extractive answer's (its best sentences must hold enough of the question's words), so
        both backends decline the same questions; a safeguarding situation is always answered."""
        if prepared.lead is not None:
            return True
        sentences = self.extractive.select(prepared.query, prepared.docs, prepared.q_vec)
        return bool(sentences) and answers_question(prepared.query, sentences, prepared.docs)

    def policy_checks(self):
        """The semantic checks of bot/policy (harmful requests, safeguarding situations),
        trained on first use; None with the fake hashing embedder of the unit tests, whose
        vectors carry no meaning."""
        if self._checks is None and not model_identity(self.embeddings).startswith("fake"):
            from bot.policy.detector import PolicyChecks

            self._checks = PolicyChecks(self.embeddings, cache=self.cache())
        return self._checks

    def _standalone(self, question: str, history) -> str:
        turns = [h for h in (history or []) if str(h.get("content", "")).strip()]
        if self.llm is not None and any(h.get("role") == "user" for h in turns):
            try:
                return self.llm.condense(question, turns)
            except llm_failures() as exc:
                log.warning("llm_condense_failed error=%s", exc)
        return standalone_question(question, turns)

    def _fallback(self, prepared: _Prepared, exc: Exception) -> Answer:
        log.warning("llm_unavailable backend=%s error=%s", self.settings.llm, exc)
        answer = self.extractive.answer(prepared.query, prepared.docs, prepared.q_vec)
        return _with_notice(answer, LLM_DOWN)

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


LLM_DOWN = ("The language model could not be reached, so this answer was put together "
            "directly from the guidance.")


@dataclass
class _Prepared:
    question: str
    searched: str               # the question made standalone: what the user is shown
    notice: str | None
    docs: list = field(default_factory=list)
    q_vec: Any = None
    query: str = ""             # what is searched: ``searched`` plus the guidance's words for slang
    lead: tuple[str, Any] | None = None  # a safeguarding lead: its sentence and its passage

    def finish(self, answer: Answer) -> Answer:
        if self.lead and not answer.refused:
            answer = with_lead(answer, *self.lead)
        if self.notice:
            answer = _with_notice(answer, self.notice)
        if self.searched != self.question:
            answer = _replace(answer, searched=self.searched)
        return answer


def llm_failures() -> tuple[type[BaseException], ...]:
    """What counts as the LLM server failing (unreachable, timed out, an error or a reply the
    client could not read): the answer is then made without it, with a notice. Anything else is
    a bug, and surfaces."""
    kinds: list[type[BaseException]] = [OSError]  # connection refused, timeouts, resets
    try:
        import httpx

        kinds.append(httpx.HTTPError)
    except ImportError:
        pass
    try:
        import openai

        kinds.append(openai.OpenAIError)
    except ImportError:
        pass
    try:
        import ollama

        kinds.append(ollama.ResponseError)
    except ImportError:
        pass
    return tuple(kinds)


def safeguarding_lead(retriever, policy) -> tuple[str, Any] | None:
    """The safeguarding lead sentence and the guidance passage that states the rule behind it
    (None when the library has no such passage: then no lead is claimed)."""
    found = retriever.search(policy.rule_query, k=1)
    return (policy.lead, found[0]) if found and policy.lead else None


def with_lead(answer: Answer, lead: str, doc) -> Answer:
    """``answer`` with ``lead`` first, cited [1] to ``doc``'s sentence that best states it; the
    answer's own citations move up by one."""
    import re
    from dataclasses import replace

    from bot.answer.citing import _stems, citation_for
    from bot.ingest.sentences import split_sentences

    wanted = _stems(lead)
    sentences = split_sentences(doc.page_content) or []
    quote = max(sentences, key=lambda x: len(wanted & _stems(x.text))).text if sentences else ""
    shifted = re.sub(r"\[(\d+)\]", lambda m: f"[{int(m.group(1)) + 1}]", answer.text)
    citations = [citation_for(1, doc, quote)] + [replace(c, n=c.n + 1) for c in answer.citations]
    body = lead.rstrip(".") + " [1]."
    return replace(answer, text=f"{body}\n\n{shifted}", citations=citations)


def _replace(answer: Answer, **changes: Any) -> Answer:
    from dataclasses import replace

    return replace(answer, **changes)


def _with_notice(answer: Answer, notice: str) -> Answer:
    combined = f"{answer.notice} {notice}" if answer.notice else notice
    return _replace(answer, notice=combined)


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


def build_bot(settings: Settings, embeddings=None) -> Bot:
    """The composition root: settings in, a ready (lazily loading) bot out. ``BOT_CHROMA_URL``
    chooses the Chroma server store (nothing is then written to the embedded one)."""
    store = open_store(settings)  # first: a malformed BOT_CHROMA_URL fails before the model loads
    if embeddings is None:
        embeddings = embeddings_for(settings)
    chat_model = None
    if settings.llm in ("ollama", "openai"):
        from bot.models.chat import make_chat_model

        chat_model = make_chat_model(settings)
    return Bot(settings, embeddings, store, chat_model)

"""The question pipeline: from a question (with the conversation so far) to an ``Answer``.

:class:`QuestionPipeline` runs the steps in order: the question made standalone (an LLM rewrite,
or an offline rule for follow-ups), the policy checks (a harmful request is refused citing the
rules; a question about one person's own case is declined with a pointer; a safeguarding situation
gets "Tell staff now" first), the search (:func:`find_passages`,
also used by ``eval``), the scope judgement (an honest decline with a pointer when the library
does not cover it), then the extractive answer, or the LLM's with the same "does the library
answer?" test first and a fallback to the extractive answer, with a notice, when its server fails.
The bot built by :func:`bot.wiring.build_bot` gives it its collaborators.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.answer.deciding import AnswerCheck
from bot.answer.extractive import ExtractiveAnswerer, lead_first
from bot.answer.findings import asks_for_findings
from bot.answer.replies import EMPTY, LLM_DOWN, TRUNCATED, decline, refuse
from bot.config import Settings
from bot.documents import Answer
from bot.policy.colloquial import expand
from bot.policy.scope import ScopeJudge
from bot.search.asking import asking_part
from bot.search.filters import normalise_filters
from bot.search.retrieval import HybridRetriever

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
    A question told with a story around it ("I start at a women's prison next week. What should
    I wear?") has its asking sentences matched against the sections' headings as well: on the
    question sets the passage holding the key fact came first for 6 more of 327 such covered
    questions, and led the answer for 6 more (docs/quality.md, session 11).
    Returns (query searched, its vector or None, passages)."""
    query = expand(searched)
    vector = embed(query) if embed is not None else None
    asking = asking_part(searched)
    asked = embed(expand(asking)) if asking and embed is not None else None
    docs = retriever.search(query, k=k, filters=filters, vector=vector, asked=asked)
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


class QuestionPipeline:
    """Answers questions from the live index. ``retriever`` and ``policy_checks`` are called on
    every question (the bot reloads its index when a new version goes live, and trains the policy
    checks on first use); the answerers are the bot's own."""

    def __init__(self, settings: Settings, embeddings, extractive: ExtractiveAnswerer, llm,
                 scope: ScopeJudge, retriever: Callable[[], HybridRetriever],
                 policy_checks: Callable[[], Any], answer_check: AnswerCheck | None = None
                 ) -> None:
        self.settings = settings
        # answer or decline (bot.answer.deciding): the same check for every backend
        self.answer_check = answer_check or AnswerCheck.load()
        self.embeddings = embeddings
        self.extractive = extractive
        self.llm = llm  # the LLM answerer, or None
        self.scope = scope
        self.retriever = retriever
        self.policy_checks = policy_checks

    def ask(self, question: str, history: Sequence[dict[str, str]] | None = None,
            filters: dict[str, Any] | None = None, k: int | None = None) -> Answer:
        """Answer a question (with the conversation so far) from the live index."""
        prepared = self._prepare(question, history, filters, k)
        if isinstance(prepared, Answer):
            return prepared
        if self.llm is None:
            return prepared.finish(self.extractive.answer(
                prepared.query, prepared.docs, prepared.q_vec,
                require_coverage=prepared.lead is None, judge=self._judge(prepared)))
        declined = self._library_declines(prepared)
        if declined is not None:
            return prepared.finish(declined)
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
                require_coverage=prepared.lead is None, judge=self._judge(prepared)))
            return
        declined = self._library_declines(prepared)
        if declined is not None:
            yield prepared.finish(declined)
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
        retriever = self.retriever()
        checks = self.policy_checks()
        own = self.embeddings.embed_query(question) if checks else None
        # Someone at risk comes first: a situation that both checks match (a child who did not
        # come back from an outing, read by the harmful-request check as absconding) gets the
        # lead and the guidance, never a refusal. On the safety sets 24 of the 26 requests both
        # checks match are safeguarding situations (docs/quality.md, session 9).
        at_risk = checks is not None and checks.safeguarding.matches(question, own)
        if checks and not at_risk and checks.harm.matches(question, own):
            category = checks.category(own)
            asked, rules = rules_passages(retriever, checks.policy, category,
                                          k or self.settings.top_k)
            return prepared.finish(_replace(refuse(self.extractive, asked, rules),
                                            category=category))
        if at_risk:
            prepared.lead = safeguarding_lead(retriever, checks.policy.safeguarding)
        def embed(text: str):  # the question's own vector, when it is what gets searched
            return own if own is not None and text == question else \
                self.embeddings.embed_query(text)

        prepared.query, prepared.q_vec, prepared.docs = find_passages(
            retriever, searched, embed, k, flt)
        prepared.index = retriever.index
        verdict = (self.scope.judge(prepared.query, prepared.q_vec, prepared.docs, retriever.index)
                   if prepared.docs else None)
        # One person's own case (an appeal, a release date, a relative's transfer) gets a pointer
        # to a solicitor or the establishment; a question unrelated to the library ("who won the
        # league?") is not judged as one: the check learnt only from questions about this field.
        if checks and verdict is not None and verdict.reason != "unrelated":
            if checks.personal is not None and checks.personal.matches(question, own):
                return prepared.finish(decline(question, [], personal=True))
            area = checks.area(question, own)
            if area is not None:  # another organisation's business: say where to ask
                return prepared.finish(decline(question, prepared.docs, pointer=area.pointer))
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

    def _judge(self, prepared: _Prepared) -> Callable[[Sequence[Any]], bool]:
        """The answer check for this question's passages (bot.answer.deciding)."""
        return lambda sentences: self.answer_check.answers(prepared.query, sentences,
                                                           prepared.docs, prepared.index)

    def _library_declines(self, prepared: _Prepared) -> Answer | None:
        """Before an LLM writes anything: does the library answer at all? The same check as the
        extractive answer's (bot.answer.deciding), on the sentences it would choose, so both
        backends decline the same questions, and the decline names the section those sentences
        lead with first; a safeguarding situation is always answered. None when it answers."""
        if prepared.lead is not None:
            return None
        sentences = self.extractive.select(prepared.query, prepared.docs, prepared.q_vec)
        if self._judge(prepared)(sentences):
            return None
        return decline(prepared.question, lead_first(prepared.docs, sentences))

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
        answer = self.extractive.answer(prepared.query, prepared.docs, prepared.q_vec,
                                        judge=self._judge(prepared))
        return _with_notice(answer, LLM_DOWN)


@dataclass
class _Prepared:
    question: str
    searched: str               # the question made standalone: what the user is shown
    notice: str | None
    docs: list = field(default_factory=list)
    q_vec: Any = None
    query: str = ""             # what is searched: ``searched`` plus the guidance's words for slang
    lead: tuple[str, Any] | None = None  # a safeguarding lead: its sentence and its passage
    index: Any = None           # the search index the passages came from

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


def rules_passages(retriever, policy, category: str, k: int) -> tuple[str, list]:
    """The passages a refusal quotes: the category's rules document (``rules`` in
    requests.yaml) searched for what the category is about, never for the request's own words,
    which would find the facts it asks for (where scanners are used), then the whole library for
    the same words (the document may be gone, or state no rule that fits). Returns (what was
    searched, the passages)."""
    found = next((c for c in policy.categories if c.id == category), None)
    query = (found.description if found else "") + RULES_QUERY
    docs = retriever.search(query, k=k, filters={"source": found.rules}) \
        if found is not None and found.rules else []
    # the library's other rules after them, for a rules document with no sentence that states one
    seen = {d.id for d in docs}
    return query, docs + [d for d in retriever.search(query, k=k) if d.id not in seen]


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

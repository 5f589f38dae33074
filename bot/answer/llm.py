"""Answering with an optional LLM backend (a LangChain chat model from
:func:`bot.models.chat.make_chat_model`), checked against the sources.

:class:`LLMAnswerer` asks the model to answer from numbered sources, then checks what comes back:
a sentence keeps its [n] markers only where n is a source that was shown; a sentence with no valid
marker is kept only if a retrieved passage supports it (and is then cited), otherwise it is
dropped and the answer says so; each citation quotes, verbatim, the passage sentence closest to
what the model said. Follow-up questions can be rewritten into standalone ones.
If the server cannot be reached the caller falls back to the extractive answer with a notice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence

from langchain_core.documents import Document

from bot.answer.citing import _stems, citation_for
from bot.answer.extractive import ExtractiveAnswerer
from bot.answer.prompts import CONDENSE_PROMPT, NOT_COVERED_MARK, SYSTEM_PROMPT, USER_PROMPT, format_context
from bot.answer.replies import decline, with_dates
from bot.documents import Answer, Citation
from bot.ingest.sentences import split_sentences

log = logging.getLogger(__name__)

SUPPORT_OVERLAP = 0.6  # share of an uncited sentence's words that one passage sentence must hold


_MARKER = re.compile(r"\[(\d+)\]")


class LLMAnswerer:
    def __init__(self, chat_model, extractive: ExtractiveAnswerer, backend: str) -> None:
        self.chat_model = chat_model
        self.extractive = extractive
        self.backend = backend

    def messages(self, question: str, docs: Sequence[Document]):
        from langchain_core.messages import HumanMessage, SystemMessage

        return [SystemMessage(SYSTEM_PROMPT),
                HumanMessage(USER_PROMPT.format(context=format_context(docs), question=question))]

    def condense(self, question: str, history: Sequence[dict[str, str]]) -> str:
        """A standalone version of a follow-up question, written by the model."""
        from langchain_core.messages import HumanMessage

        turns = "\n".join(f"{h.get('role', 'user')}: {h.get('content', '')}" for h in history[-6:])
        reply = self.chat_model.invoke([HumanMessage(CONDENSE_PROMPT.format(
            history=turns, question=question))])
        text = " ".join(str(reply.content).split()).strip().strip('"')
        return text if 3 <= len(text) <= 500 else question

    def answer(self, question: str, docs: Sequence[Document], q_vec=None) -> Answer:
        reply = self.chat_model.invoke(self.messages(question, docs))
        return self.finish(question, str(reply.content), docs)

    def stream(self, question: str, docs: Sequence[Document]) -> Iterator[str]:
        """The model's raw text as it arrives; call :meth:`finish` on the whole of it."""
        for chunk in self.chat_model.stream(self.messages(question, docs)):
            if chunk.content:
                yield str(chunk.content)

    def finish(self, question: str, raw: str, docs: Sequence[Document]) -> Answer:
        """Keep only what the sources support; renumber citations in order of use."""
        if NOT_COVERED_MARK in raw.upper() and len(raw) < 80:
            return decline(question, docs)
        kept: list[str] = []
        dropped = 0
        renumber: dict[int, int] = {}
        citations: list[Citation] = []

        def cite(n: int, said: str) -> int:
            if n not in renumber:
                renumber[n] = len(citations) + 1
                citations.append(citation_for(renumber[n], docs[n - 1],
                                              self._quote(said, docs[n - 1])))
            return renumber[n]

        # "It is banned. [1] Next" -> "It is banned [1]. Next": markers belong to what precedes.
        raw = re.sub(r"([.!?])((?:\s*\[\d+\])+)", lambda m: m.group(2) + m.group(1), raw)
        for sentence in split_sentences(raw):
            text = sentence.text
            valid = [int(n) for n in _MARKER.findall(text) if 1 <= int(n) <= len(docs)]
            plain = " ".join(_MARKER.sub("", text).split())
            if not valid:
                support = self._supporting_passage(plain, docs)
                if support is None:
                    dropped += 1
                    continue
                valid = [support]
            for n in valid:
                cite(n, plain)
            markers = "".join(f" [{renumber[n]}]" for n in dict.fromkeys(valid))
            body = plain.rstrip()
            end = body[-1] if body and body[-1] in ".!?" else "."
            kept.append(body.rstrip(".!?").rstrip() + markers + end)
        if not kept:
            return decline(question, docs)
        notice = None
        if dropped:
            plural = dropped > 1
            notice = (f"{dropped} sentence{'s' if plural else ''} of the model's answer that no "
                      f"source supported {'were' if plural else 'was'} removed.")
        return Answer(text=with_dates(" ".join(kept), citations), citations=citations,
                      grounded=True, backend=self.backend, notice=notice)

    def _supporting_passage(self, said: str, docs: Sequence[Document]) -> int | None:
        words = _stems(said)
        if len(words) < 3:
            return None
        best, best_n = 0.0, None
        for n, doc in enumerate(docs, start=1):
            for s in split_sentences(doc.page_content):
                overlap = len(words & _stems(s.clean)) / len(words)
                if overlap > best:
                    best, best_n = overlap, n
        return best_n if best >= SUPPORT_OVERLAP else None

    def _quote(self, said: str, doc: Document) -> str:
        picked = self.extractive.select(said, [doc], None)
        if picked:
            return doc.page_content[picked[0].start:picked[0].end]
        sentences = split_sentences(doc.page_content)
        return sentences[0].text if sentences else doc.page_content[:300]

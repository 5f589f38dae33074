"""Optional LLM backends (Ollama, any OpenAI-compatible server) behind LangChain chat models.

``make_chat_model`` imports the provider package only when it is chosen, and says which extra to
install when it is missing. :class:`LLMAnswerer` asks the model to answer from numbered sources,
then keeps only sentences whose [n] markers point at a source shown to it; each citation quotes
the passage sentence closest to what the model said, verbatim. If the server cannot be reached the
caller falls back to the extractive answer with a visible notice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from langchain_core.documents import Document

from bot.answer import ExtractiveAnswerer, citation_for, decline, split_sentences
from bot.config import Settings
from bot.documents import Answer, Citation
from bot.errors import ConfigError
from bot.prompts import NOT_COVERED_MARK, SYSTEM_PROMPT, USER_PROMPT, format_context

log = logging.getLogger(__name__)


def make_chat_model(settings: Settings):
    """A LangChain ``BaseChatModel`` for BOT_LLM=ollama or openai."""
    if settings.llm == "ollama":
        try:
            from langchain_ollama import ChatOllama
        except ImportError as exc:
            raise ConfigError("BOT_LLM=ollama needs the ollama extra: pip install -e '.[ollama]'.") from exc
        return ChatOllama(model=settings.llm_model or "llama3.1",
                          base_url=settings.llm_base_url or "http://127.0.0.1:11434",
                          temperature=0, client_kwargs={"timeout": settings.llm_timeout})
    if settings.llm == "openai":
        try:
            from langchain_openai import ChatOpenAI
        except ImportError as exc:
            raise ConfigError("BOT_LLM=openai needs the openai extra: pip install -e '.[openai]'.") from exc
        if not settings.llm_model:
            raise ConfigError("BOT_LLM=openai needs BOT_LLM_MODEL (the model name on the server).")
        return ChatOpenAI(model=settings.llm_model, base_url=settings.llm_base_url,
                          api_key=settings.llm_api_key or "not-needed", temperature=0,
                          timeout=settings.llm_timeout, max_retries=0)
    raise ConfigError(f"BOT_LLM={settings.llm} is not an LLM backend.")


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

    def answer(self, question: str, docs: Sequence[Document], q_vec=None) -> Answer:
        reply = self.chat_model.invoke(self.messages(question, docs))
        return self.finish(question, str(reply.content), docs)

    def finish(self, question: str, raw: str, docs: Sequence[Document]) -> Answer:
        """Keep only what the sources support; renumber citations in order of use."""
        if NOT_COVERED_MARK in raw.upper() and len(raw) < 60:
            return decline(question, docs)
        kept: list[str] = []
        renumber: dict[int, int] = {}
        citations: list[Citation] = []
        for sentence in split_sentences(raw):
            refs = [int(n) for n in _MARKER.findall(sentence.text)]
            valid = [n for n in refs if 1 <= n <= len(docs)]
            if not valid:
                continue  # uncited or citing nothing shown: not supported, so dropped
            for n in valid:
                if n not in renumber:
                    renumber[n] = len(citations) + 1
                    doc = docs[n - 1]
                    citations.append(citation_for(renumber[n], doc, self._quote(sentence.text, doc)))
            text = _MARKER.sub(lambda m: f"[{renumber[int(m.group(1))]}]"
                               if int(m.group(1)) in renumber else "", sentence.text)
            kept.append(" ".join(text.split()))
        if not kept:
            return decline(question, docs)
        return Answer(text=" ".join(kept), citations=citations, grounded=True,
                      backend=self.backend)

    def _quote(self, said: str, doc: Document) -> str:
        picked = self.extractive.select(_MARKER.sub("", said), [doc], None)
        if picked:
            return doc.page_content[picked[0].start:picked[0].end]
        sentences = split_sentences(doc.page_content)
        return sentences[0].text if sentences else doc.page_content[:300]

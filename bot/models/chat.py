"""Optional LLM backends (Ollama, any OpenAI-compatible server) as LangChain chat models.

:func:`make_chat_model` imports the provider package only when it is chosen, and says which extra
to install when it is missing. What the answer does with the model is in :mod:`bot.answer.llm`.
"""

from __future__ import annotations

from pydantic import SecretStr

from bot.config import Settings
from bot.errors import ConfigError


def make_chat_model(settings: Settings):
    """A LangChain ``BaseChatModel`` for BOT_LLM=ollama or openai."""
    if settings.llm == "ollama":
        try:
            from langchain_ollama import ChatOllama
        except ImportError as exc:
            raise ConfigError("BOT_LLM=ollama needs the ollama extra: "
                              "pip install -e '.[ollama]'.") from exc
        return ChatOllama(model=settings.llm_model or "llama3.1",
                          base_url=settings.llm_base_url or "http://127.0.0.1:11434",
                          temperature=0, client_kwargs={"timeout": settings.llm_timeout})
    if settings.llm == "openai":
        try:
            from langchain_openai import ChatOpenAI
        except ImportError as exc:
            raise ConfigError("BOT_LLM=openai needs the openai extra: "
                              "pip install -e '.[openai]'.") from exc
        if not settings.llm_model:
            raise ConfigError("BOT_LLM=openai needs BOT_LLM_MODEL (the model name on the server).")
        return ChatOpenAI(model=settings.llm_model, base_url=settings.llm_base_url,
                          api_key=SecretStr(settings.llm_api_key or "not-needed"), temperature=0,
                          timeout=settings.llm_timeout, max_retries=0)
    raise ConfigError(f"BOT_LLM={settings.llm} is not an LLM backend.")

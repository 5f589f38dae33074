"""LangChain's own standard tests (the ``langchain-tests`` package) for the LangChain interfaces
this project implements: every ``Embeddings`` class in bot/models/embeddings.py and
bot/models/onnx_encoder.py, and ``HybridRetriever``. They check the contract other LangChain code
relies on: list-of-float vectors of one length, sync and async entry points, ``k`` honoured from
the constructor and from ``invoke(query, k=...)``. The real models come from the session
fixtures (loaded once per run), so these add little time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_tests.integration_tests import (
    EmbeddingsIntegrationTests,
    RetrieversIntegrationTests,
)
from langchain_tests.unit_tests import EmbeddingsUnitTests

from bot.models.embeddings import HashingEmbeddings, SentenceTransformerEmbeddings, bundled_model_path
from bot.models.onnx_encoder import OnnxEmbeddings
from bot.search.retrieval import HybridRetriever

REPO = Path(__file__).resolve().parent.parent


# -- the fake (hashing) embedder ------------------------------------------------------------------


class TestHashingEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[HashingEmbeddings]:
        return HashingEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"dimension": 64}


class TestHashingEmbeddings(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[HashingEmbeddings]:
        return HashingEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"dimension": 64}


# -- the bundled model on ONNX Runtime (the default backend) -------------------------------------


def onnx_params() -> dict[str, Any]:
    return {"model_dir": bundled_model_path(), "cache_dir": REPO / "index" / "models",
            "variant": "int8"}


class TestOnnxEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[OnnxEmbeddings]:
        return OnnxEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return onnx_params()  # built lazily: constructing it loads nothing


@pytest.mark.slow
class TestOnnxEmbeddings(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[OnnxEmbeddings]:
        return OnnxEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return onnx_params()

    @pytest.fixture
    def model(self, real_embeddings) -> OnnxEmbeddings:
        """The session's ONNX encoder (the same class and parameters), not a fresh load."""
        assert isinstance(real_embeddings, OnnxEmbeddings)
        return real_embeddings


# -- the bundled model on sentence-transformers (PyTorch) -----------------------------------------


class TestSentenceTransformerEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[SentenceTransformerEmbeddings]:
        return SentenceTransformerEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"name_or_path": bundled_model_path()}  # loads on first use, not here


@pytest.mark.slow
class TestSentenceTransformerEmbeddings(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[SentenceTransformerEmbeddings]:
        return SentenceTransformerEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"name_or_path": bundled_model_path()}

    @pytest.fixture
    def model(self, torch_embeddings) -> SentenceTransformerEmbeddings:
        return torch_embeddings


# -- the hybrid retriever, over the real corpus index ------------------------------------------


_LIVE: dict[str, Any] = {}


@pytest.mark.slow
class TestHybridRetriever(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _corpus_index(self, corpus_bot):
        _LIVE.update(index=corpus_bot.search_index(), embeddings=corpus_bot.embeddings)

    @property
    def retriever_constructor(self) -> type[HybridRetriever]:
        return HybridRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"index": _LIVE["index"], "embeddings": _LIVE["embeddings"]}

    @property
    def retriever_query_example(self) -> str:
        return "Can I bring a camera to record a workshop?"

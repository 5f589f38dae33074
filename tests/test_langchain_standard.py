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


# Each embedder's class and constructor arguments, shared by its unit and integration suites.


class HashingParams:
    @property
    def embeddings_class(self) -> type[HashingEmbeddings]:
        return HashingEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"dimension": 64}


class OnnxParams:
    """The bundled model on ONNX Runtime (the default backend); constructing it loads nothing."""

    @property
    def embeddings_class(self) -> type[OnnxEmbeddings]:
        return OnnxEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model_dir": bundled_model_path(), "cache_dir": REPO / "index" / "models",
                "variant": "int8"}


class SentenceTransformerParams:
    """The bundled model on sentence-transformers (PyTorch); it loads on first use."""

    @property
    def embeddings_class(self) -> type[SentenceTransformerEmbeddings]:
        return SentenceTransformerEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"name_or_path": bundled_model_path()}


# -- the fake (hashing) embedder ------------------------------------------------------------------


class TestHashingEmbeddingsUnit(HashingParams, EmbeddingsUnitTests):
    pass


class TestHashingEmbeddings(HashingParams, EmbeddingsIntegrationTests):
    pass


# -- the bundled model on ONNX Runtime -------------------------------------------------------------


class TestOnnxEmbeddingsUnit(OnnxParams, EmbeddingsUnitTests):
    pass


@pytest.mark.slow
class TestOnnxEmbeddings(OnnxParams, EmbeddingsIntegrationTests):
    @pytest.fixture
    def model(self, real_embeddings) -> OnnxEmbeddings:
        """The session's ONNX encoder (the same class and parameters), not a fresh load."""
        assert isinstance(real_embeddings, OnnxEmbeddings)
        return real_embeddings


# -- the bundled model on sentence-transformers (PyTorch) -----------------------------------------


class TestSentenceTransformerEmbeddingsUnit(SentenceTransformerParams, EmbeddingsUnitTests):
    pass


@pytest.mark.slow
class TestSentenceTransformerEmbeddings(SentenceTransformerParams, EmbeddingsIntegrationTests):
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

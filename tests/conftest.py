"""Shared fixtures: fast fakes for unit tests, the real model loaded once for integration tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import copy_corpus

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_bot_env(monkeypatch):
    """Tests build Settings explicitly: no BOT_* variable from the developer's shell leaks in."""
    for key in list(os.environ):
        if key.startswith("BOT_"):
            monkeypatch.delenv(key)


@pytest.fixture
def docs(tmp_path) -> Path:
    return copy_corpus(tmp_path / "docs")


@pytest.fixture
def settings(tmp_path, docs):
    from bot.config import Settings

    return Settings(docs_dir=docs, index_dir=tmp_path / "index", embed_model="fake")


@pytest.fixture
def fake_bot(settings):
    from bot.wiring import build_bot

    return build_bot(settings)


@pytest.fixture
def indexed_bot(fake_bot):
    from bot.ingest.indexer import drive

    drive(fake_bot.index())
    return fake_bot


@pytest.fixture(scope="session")
def real_embeddings():
    """The bundled all-MiniLM-L6-v2 on the default backend (ONNX Runtime int8), loaded once for
    the whole test run. The exported encoder is kept where ``make run`` keeps it (index/models,
    git-ignored), so it is built once per checkout, not once per test run."""
    from bot.config import Settings
    from bot.models.embeddings import embeddings_for

    embeddings = embeddings_for(Settings(index_dir=REPO / "index"))
    embeddings.warm_up()
    return embeddings


@pytest.fixture(scope="session")
def torch_embeddings():
    """The bundled model on sentence-transformers (PyTorch), loaded once for the whole run."""
    from bot.models.embeddings import SentenceTransformerEmbeddings, bundled_model_path

    embeddings = SentenceTransformerEmbeddings(bundled_model_path())
    embeddings.warm_up()
    return embeddings


@pytest.fixture(scope="session")
def real_cache_dir(tmp_path_factory) -> Path:
    """An embedding cache shared by the integration tests of one run."""
    return tmp_path_factory.mktemp("embedding-cache")


@pytest.fixture(scope="session")
def corpus_bot(tmp_path_factory, real_embeddings):
    """The real guidance corpus, indexed once with the real model."""
    from bot.config import Settings
    from bot.ingest.indexer import drive
    from bot.wiring import build_bot

    index_dir = tmp_path_factory.mktemp("corpus-index")
    cached = REPO / "index" / "cache" / "embeddings.sqlite"
    if cached.exists():  # reuse a developer's cache: same model, same texts, same vectors
        (index_dir / "cache").mkdir(parents=True, exist_ok=True)
        shutil.copy(cached, index_dir / "cache" / "embeddings.sqlite")
    bot = build_bot(Settings(docs_dir=REPO / "guidance_docs", index_dir=index_dir),
                    embeddings=real_embeddings)
    report = drive(bot.index())
    assert not report.failed, report.failed
    return bot


def pytest_terminal_summary(terminalreporter):
    """Say loudly when the browser tests were skipped, and how to run them."""
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if "test_browser" in getattr(r, "nodeid", "") and "Chromium" in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} browser tests were SKIPPED: Chromium is not installed. Install it "
            "with 'sudo apt-get install chromium' (Debian) and run make test again; .ci/run does "
            "this itself.", yellow=True, bold=True)

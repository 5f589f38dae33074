"""The relevance model: does this passage answer this question? A cross-encoder.

The bundled embedding model reads a question and a passage apart and compares two vectors, so a
passage that is only about the same thing as the question ("Can I bring lunch?" for "can I bring
my fitbit?") can score as high as the one that answers it. A cross-encoder reads the question and
the passage together. No cross-encoder can be downloaded here, so this one is the bundled model
itself with a small trained change: a rank-16 update to each of its layers' weight matrices, its
layer norms and a scoring head over the mean of its token vectors, trained by
``scripts/train_relevance.py`` on (question, retrieved passage) pairs from the project's question
sets, labelled by whether the passage holds the question's key fact. The change ships with the
code (``relevance_lora.npz``, about 2 MB); the merged model is exported to ONNX with int8 weights
on first use, like the encoder (:mod:`bot.models.onnx_encoder`), into ``<index>/models/``.

The answer check (:mod:`bot.answer.deciding`) uses its score for the section the answer leads
with, beside its other measurements.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from bot.documents import heading_text
from bot.errors import ModelError

log = logging.getLogger(__name__)

LORA_FILE = Path(__file__).with_name("relevance_lora.npz")
LORA_RANK = 16
LORA_TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value",
                "attention.output.dense", "intermediate.dense", "output.dense")
MAX_TOKENS = 128  # question and passage together; the passage is cut to fit


def pair_text(text: str, metadata: dict[str, Any]) -> str:
    """The passage as the model reads it: its heading (an evidence summary's with the study's
    title, bot.documents.heading_text), then its text."""
    heading = heading_text(metadata).strip()
    return f"{heading}. {text}" if heading else text


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _merged_bert(model_dir: Path, lora: Path):
    """The bundled model's transformer with the trained change added to its weights."""
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
    bert.eval()
    with np.load(lora) as change, torch.no_grad():
        for i, layer in enumerate(bert.encoder.layer):
            for name in LORA_TARGETS:
                a = change[f"layer{i}.{name}.a"].astype(np.float32)
                b = change[f"layer{i}.{name}.b"].astype(np.float32)
                layer.get_submodule(name).weight += torch.from_numpy(b @ a)
        params = dict(bert.named_parameters())
        for key in change.files:
            if key.startswith("norm."):
                params[key.removeprefix("norm.")].copy_(
                    torch.from_numpy(change[key].astype(np.float32)))
    return bert


class RelevanceModel:
    """Scores (question, passage) pairs; loaded and exported on first use."""

    def __init__(self, model_dir: str | Path, cache_dir: str | Path, lora: Path = LORA_FILE,
                 threads: int | None = None) -> None:
        self.model_dir = Path(model_dir)
        self.cache_dir = Path(cache_dir)
        self.lora = Path(lora)
        self.threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._head: tuple[np.ndarray, float] | None = None
        self._lock = threading.Lock()

    def _build(self) -> Path:
        from bot.models.onnx_encoder import build_onnx

        final = build_onnx(self.model_dir, self.cache_dir, "int8",
                           name=f"relevance-{_digest(self.lora)}",
                           transformer=lambda: _merged_bert(self.model_dir, self.lora))
        for old in self.cache_dir.glob("relevance-*-int8.onnx"):
            if old != final:  # an export of other weights: 23 MB nobody reads now
                old.unlink(missing_ok=True)
        return final

    def warm_up(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            if not self.lora.exists():
                raise ModelError(f"The relevance model's weights ({self.lora.name}) are missing: "
                                 "reinstall the bot or run scripts/train_relevance.py.")
            try:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                from bot.models.onnx_encoder import open_session
            except ImportError as exc:
                raise ModelError("The relevance model needs onnxruntime and tokenizers: run "
                                 "'make install'.") from exc
            path = self._build()
            tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
            # the passage is cut to fit; a question too long to leave it room is cut too (a
            # rambling question of 1,000 characters is longer than MAX_TOKENS by itself)
            tokenizer.enable_truncation(MAX_TOKENS, strategy="longest_first")
            tokenizer.no_padding()
            with np.load(self.lora) as change:
                self._head = (change["head.weight"].astype(np.float32),
                              float(change["head.bias"].astype(np.float32)[0]))
            self._tokenizer = tokenizer
            self._session = open_session(ort, path, self.threads)
            log.info("relevance_model_loaded path=%s", path)

    def score(self, question: str, passage: str) -> float:
        """The model's score (a logit: above 0, it more likely than not holds the answer). One
        pair per run, so that a score depends on its pair alone (int8 activations are quantised
        per run, as in the encoder)."""
        self.warm_up()
        encoding = self._tokenizer.encode(question, passage)
        feed = {"input_ids": np.asarray([encoding.ids], dtype=np.int64),
                "attention_mask": np.asarray([encoding.attention_mask], dtype=np.int64),
                "token_type_ids": np.asarray([encoding.type_ids], dtype=np.int64)}
        hidden = self._session.run(None, feed)[0][0]
        assert self._head is not None  # set by warm_up
        weight, bias = self._head
        return float(hidden.mean(axis=0) @ weight + bias)

"""A faster CPU encoder for the sentence-transformers model: ONNX Runtime, optionally int8.

The model's BERT module is exported locally with ``torch.onnx.export`` (no hub, no optimum: the
sentence-transformers ``[onnx]`` extra conflicts with Gradio's huggingface-hub), then optionally
quantised with ONNX Runtime's dynamic quantisation (int8 weights, per channel, MatMul only, which
keeps the vectors within about 0.005 cosine of PyTorch's). :class:`OnnxEmbeddings` tokenises with
the model's own ``tokenizer.json``, runs the graph, then mean-pools and normalises exactly as the
model's Pooling and Normalize modules do. The exported file is built once, on first use, into a
cache folder (``<index>/models/``) and reused; building needs ``onnx`` and PyTorch, running needs
only ``onnxruntime``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.errors import ModelError

log = logging.getLogger(__name__)

VARIANTS = ("fp32", "int8")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _max_seq_length(model_dir: Path) -> int:
    try:
        config = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
        return int(config.get("max_seq_length") or 256)
    except (OSError, ValueError):
        return 256


def unsupported_reason(model_dir: Path) -> str | None:
    """Why the ONNX encoder cannot reproduce this model's vectors, or None if it can: it mirrors
    only a BERT transformer followed by mean pooling (and normalisation), as all-MiniLM-L6-v2 is."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "it is not a sentence-transformers model folder (modules.json, config.json)"
    if config.get("model_type") != "bert":
        return f"its transformer is '{config.get('model_type')}', not BERT"
    if not (model_dir / "tokenizer.json").exists():
        return "it has no tokenizer.json"
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"}:
        return f"its modules are {', '.join(kinds)}, not Transformer, Pooling, Normalize"
    pooling = next(m for m in modules if str(m.get("type", "")).endswith("Pooling"))
    try:
        options = json.loads((model_dir / pooling.get("path", "") / "config.json")
                             .read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "its pooling settings cannot be read"
    chosen = [k for k, v in options.items() if k.startswith("pooling_mode_") and v is True]
    if chosen != ["pooling_mode_mean_tokens"]:
        return f"it pools with {', '.join(chosen) or 'nothing'}, not the mean of its tokens"
    return None


def _fingerprint(model_dir: Path) -> str:
    """Names the exported file after the weights it came from, so new weights mean a new export."""
    parts = []
    for name in ("config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json"):
        path = model_dir / name
        if path.exists():
            stat = path.stat()
            parts.append(f"{name}:{stat.st_size}:{int(stat.st_mtime)}")
    return hashlib.sha256("|".join([str(model_dir.resolve()), *parts]).encode()).hexdigest()[:12]


def export_onnx(model_dir: Path, dest: Path, bert: Any = None) -> Path:
    """Export the model's transformer (or ``bert``, a transformer already loaded and changed) to
    ONNX (fp32) at ``dest``, atomically."""
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelError("Exporting the ONNX encoder needs PyTorch and transformers: run "
                         "'make install'.") from exc

    class _Bert(torch.nn.Module):
        """Calls the BERT module with keyword arguments, the way sentence-transformers does."""

        def __init__(self, bert) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - older transformers
        pass
    if bert is None:
        bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
    bert.eval()
    dummy = tuple(torch.ones((2, 16), dtype=torch.long) for _ in INPUTS)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(f".{os.getpid()}.tmp")
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
    # Tracing warns about shape-dependent Python branches; the axes below keep the graph dynamic.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Bert(bert), dummy, str(tmp), input_names=list(INPUTS),
                          output_names=["last_hidden_state"], dynamic_axes=axes,
                          opset_version=17, dynamo=False, do_constant_folding=True)
    os.replace(tmp, dest)
    return dest


def quantize_int8(src: Path, dest: Path) -> Path:
    """int8 dynamic quantisation of the MatMul weights, per channel, atomically."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise ModelError("Quantising the ONNX encoder needs the onnx package: run "
                         "'.venv/bin/pip install onnx' (or 'make install').") from exc
    tmp = dest.with_suffix(f".{os.getpid()}.tmp")
    # The quantiser logs per-tensor notes and advice through the root logger: keep them quiet.
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        quantize_dynamic(str(src), str(tmp), op_types_to_quantize=["MatMul"], per_channel=True,
                         weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    os.replace(tmp, dest)
    return dest


def build_onnx(model_dir: Path, cache_dir: Path, variant: str = "int8", name: str | None = None,
               transformer: Callable[[], Any] | None = None) -> Path:
    """The exported (and quantised) model for ``model_dir``, built into ``cache_dir`` if missing.
    Another model made from these weights (bot.models.relevance) is exported the same way under
    its own ``name``, with ``transformer`` returning the changed transformer to export."""
    if variant not in VARIANTS:
        raise ModelError(f"Unknown ONNX variant '{variant}': use fp32 or int8.")
    stem = f"{name or model_dir.name}-{_fingerprint(model_dir)}"
    fp32 = cache_dir / f"{stem}-fp32.onnx"
    final = cache_dir / f"{stem}-{variant}.onnx"
    if final.exists():
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    # One process builds at a time (two app processes may start together): the others wait,
    # then find the finished file. The quantiser also writes a scratch file beside its input.
    with open(cache_dir / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if final.exists():
            return final
        exported = not fp32.exists()
        if exported:
            log.info("onnx_export model=%s dest=%s", model_dir, fp32)
            export_onnx(model_dir, fp32, bert=transformer() if transformer else None)
        if variant == "int8":
            log.info("onnx_quantize src=%s dest=%s", fp32, final)
            quantize_int8(fp32, final)
            if exported:  # only a step on the way here: 90 MB nobody reads
                fp32.unlink(missing_ok=True)
    return final


def open_session(ort: Any, path: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime session on the CPU with every graph optimisation (``ort``: the imported
    onnxruntime module, imported by the caller so that its absence is the caller's error)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxEmbeddings(Embeddings):
    """The sentence-transformers model run by ONNX Runtime; the same interface as
    :class:`~bot.models.embeddings.SentenceTransformerEmbeddings`, loaded (and exported) on first use."""

    def __init__(self, model_dir: str | Path, cache_dir: str | Path, variant: str = "int8",
                 batch_size: int = 32, model_key: str | None = None, threads: int | None = None
                 ) -> None:
        self.model_dir = Path(model_dir)
        self.cache_dir = Path(cache_dir)
        self.variant = variant
        self.batch_size = batch_size
        self.threads = threads
        self.model_key = f"{model_key or self.model_dir}+onnx-{variant}"
        self._session: Any = None    # onnxruntime.InferenceSession, once loaded
        self._tokenizer: Any = None  # tokenizers.Tokenizer, once loaded
        self._lock = threading.Lock()

    def warm_up(self):
        with self._lock:
            if self._session is None:
                self._session, self._tokenizer = self._load()
        return self._session

    def _load(self):
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelError("The ONNX encoder needs onnxruntime and tokenizers: run "
                             "'make install'.") from exc
        path = build_onnx(self.model_dir, self.cache_dir, self.variant)
        session = open_session(ort, path, self.threads)
        tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        # tokenizer.json pads every input to 128; the model reads up to max_seq_length tokens.
        tokenizer.enable_truncation(_max_seq_length(self.model_dir))
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        log.info("onnx_encoder_loaded path=%s", path)
        return session, tokenizer

    @property
    def dimension(self) -> int:
        return int(self.encode(["dimension"]).shape[1])

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.asarray([e.type_ids for e in encodings], dtype=np.int64)
        hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                          "token_type_ids": types})[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.warm_up()
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        # Like sentence-transformers: batch texts of similar length, so little is padding. The
        # int8 model quantises its activations with one scale per run, so a text's vector would
        # depend on the texts batched with it (cosine 0.986 to 0.994 between a passage embedded
        # alone and in a batch of 32, enough to change answers): int8 encodes one text per run,
        # which makes every vector depend on its text alone and, on 2 cores, was faster too
        # (300 passages in 2.4 s against 3.8 s).
        size = 1 if self.variant == "int8" else self.batch_size
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        parts = []
        for start in range(0, len(order), size):
            rows = order[start:start + size]
            parts.append((rows, self._encode_batch([texts[i] for i in rows])))
        out = np.zeros((len(texts), parts[0][1].shape[1]), dtype=np.float32)
        for rows, vectors in parts:
            out[rows] = vectors
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()

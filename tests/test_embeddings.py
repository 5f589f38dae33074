"""Which encoder runs the model: ONNX Runtime int8 by default, PyTorch where ONNX cannot
reproduce the model, and an error when someone asks for ONNX explicitly and it cannot."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


def model_copy(tmp_path: Path, pooling: dict | None = None, model_type: str | None = None) -> Path:
    """A copy of the bundled model's folder, optionally with other pooling or another type."""
    from bot.models.embeddings import bundled_model_path

    folder = tmp_path / "model"
    shutil.copytree(bundled_model_path(), folder)
    if pooling is not None:
        (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling), encoding="utf-8")
    if model_type is not None:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        config["model_type"] = model_type
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


CLS = {"word_embedding_dimension": 384, "pooling_mode_cls_token": True,
       "pooling_mode_mean_tokens": False}


def test_the_bundled_model_runs_on_onnx_int8_by_default(tmp_path):
    from bot.config import Settings
    from bot.models.embeddings import embeddings_for, model_identity
    from bot.models.onnx_encoder import OnnxEmbeddings

    embeddings = embeddings_for(Settings(index_dir=tmp_path / "index"))
    assert isinstance(embeddings, OnnxEmbeddings) and embeddings.variant == "int8"
    assert embeddings.cache_dir == tmp_path / "index" / "models"
    assert model_identity(embeddings) == \
        "sentence-transformers/all-MiniLM-L6-v2 (bundled) [onnx-int8]"
    torch = embeddings_for(Settings(index_dir=tmp_path / "index", embed_backend="torch"))
    assert model_identity(torch) == "sentence-transformers/all-MiniLM-L6-v2 (bundled)"


def test_a_model_onnx_cannot_reproduce_runs_on_pytorch_unless_onnx_was_asked_for(tmp_path):
    from bot.config import Settings
    from bot.errors import ModelError
    from bot.models.embeddings import SentenceTransformerEmbeddings, embeddings_for
    from bot.models.onnx_encoder import unsupported_reason

    cls_model = model_copy(tmp_path / "a", pooling=CLS)
    other = model_copy(tmp_path / "b", model_type="mpnet")
    assert unsupported_reason(model_copy(tmp_path / "c")) is None
    assert "pooling_mode_cls_token" in unsupported_reason(cls_model)
    assert "mpnet" in unsupported_reason(other)
    for model in (str(cls_model), str(other), "sentence-transformers/all-mpnet-base-v2"):
        chosen = embeddings_for(Settings(index_dir=tmp_path / "index", embed_model=model))
        assert isinstance(chosen, SentenceTransformerEmbeddings), model
        with pytest.raises(ModelError, match="BOT_EMBED_BACKEND=torch"):
            embeddings_for(Settings(index_dir=tmp_path / "index", embed_model=model,
                                    embed_backend="onnx-int8"))


def test_onnx_int8_vectors_stay_close_to_pytorch(real_embeddings, torch_embeddings):
    """The suite's real model is the default ONNX int8 encoder; its vectors must stay within a
    small angle of sentence-transformers' own, and rank passages the same way."""
    from bot.models.onnx_encoder import OnnxEmbeddings

    assert isinstance(real_embeddings, OnnxEmbeddings)
    texts = [p.read_text(encoding="utf-8")[:900]
             for p in sorted((REPO / "guidance_docs" / "guidance").glob("*.md"))][:12]
    queries = ["Can I take my phone into prison?", "How long does security vetting take?",
               "What should I do if someone tells me they are being harmed?"]
    ours, theirs = real_embeddings.encode(texts + queries), torch_embeddings.encode(texts + queries)
    cosine = np.sum(ours * theirs, axis=1)
    assert cosine.mean() > 0.98 and cosine.min() > 0.95, cosine
    n = len(texts)
    assert (np.argmax(ours[n:] @ ours[:n].T, axis=1)
            == np.argmax(theirs[n:] @ theirs[:n].T, axis=1)).all()


def test_a_texts_int8_vector_does_not_depend_on_the_texts_embedded_with_it(real_embeddings):
    # The int8 model quantises activations per run: batched, a passage's vector moved with its
    # neighbours (cosine as low as 0.986), so answers changed with how the index was built.
    import numpy as np

    text = "You should expect to be searched when you go into a prison."
    alone = np.asarray(real_embeddings.embed_documents([text])[0])
    batched = np.asarray(real_embeddings.embed_documents(
        ["Short.", text, "A much longer passage about the rules on items. " * 20])[1])
    assert np.allclose(alone, batched, atol=1e-6)
    assert np.allclose(alone, real_embeddings.embed_query(text), atol=1e-6)

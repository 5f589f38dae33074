"""The benchmark's report: the table of figures against their targets, the Markdown section of
docs/benchmarks.md (between markers, so the prose around it is kept), and the plot beside it.
The figures come from :func:`bot.ops.bench.run_bench`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _row(rows: list, name: str, value: Any, target: str = "", met: bool | None = None) -> None:
    mark = "" if met is None else (" (met)" if met else " (missed)")
    rows.append((name, str(value), f"{target}{mark}" if target else ""))


def table_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    ix = r["indexing"]
    raw = ix.get("raw_encoder", "SentenceTransformer.encode")
    sentences = f" and their {ix['sentences']:,} sentences" if "sentences" in ix else ""
    _row(rows, f"Indexing, raw {raw} ({ix['chunks']} passages{sentences})",
         f"{ix['raw_chunks_per_s']} passages/s")
    _row(rows, "Indexing, whole pipeline (load, chunk, embed passages and sentences, store; "
               "no cache)",
         f"{ix['pipeline_chunks_per_s']} passages/s = {ix['ratio']:.2f}x raw "
         f"({ix['cpu_ratio']:.2f}x by CPU time)", ">= 0.9x raw", ix["ratio"] >= 0.9)
    enc = r.get("encoders", {})
    for name in ("torch", "onnx-fp32", "onnx-int8"):
        if name in enc:
            e = enc[name]
            _row(rows, f"Encoder {name}", f"{e['chunks_per_s']} passages/s = {e['speedup']:.2f}x "
                 f"torch, mean cosine to torch {e['mean_cosine']:.4f}")
    # Targets: retrieval as set in issue #5; the whole answer (sentence vectors looked up, not
    # embedded) and the load test as set in issue #13.
    for size, label, target, answer_target in (("corpus", "corpus size", 50, 40),
                                               ("synthetic", "synthetic", 150, 100)):
        lat = r.get("latency", {}).get(size)
        if lat:
            ret, ans = lat["retrieval"], lat["answer"]
            _row(rows, f"Retrieval latency, {label} ({lat['chunks']:,} passages)",
                 f"p50 {ret['p50_ms']} ms, p95 {ret['p95_ms']} ms", f"p95 <= {target} ms",
                 ret["p95_ms"] <= target)
            _row(rows, f"Whole extractive answer, {label} ({lat['chunks']:,} passages)",
                 f"p50 {ans['p50_ms']} ms, p95 {ans['p95_ms']} ms", f"p95 <= {answer_target} ms",
                 ans["p95_ms"] <= answer_target)
    if "load" in r:
        ld = r["load"]
        _row(rows, f"HTTP POST /api/ask, {ld['clients']} concurrent clients, {ld['requests']} requests",
             f"{ld['throughput_rps']} answers/s, p50 {ld['p50_ms']} ms, p95 {ld['p95_ms']} ms, "
             f"{ld['errors']} errors", ">= 40 answers/s, 0 errors",
             ld["throughput_rps"] >= 40 and ld["errors"] == 0)
    if "startup" in r:
        st = r["startup"]
        _row(rows, "Server start-up: launch to first answer", f"{st['first_answer_s']} s")
        _row(rows, "Server peak memory (RSS, after the load test)", f"{st['peak_rss_mib']} MiB")
    return rows


def markdown(r: dict[str, Any], command: str, plot_name: str | None) -> str:
    m = r["machine"]
    threads = m["torch_threads"]
    threads = f"{threads} threads" if isinstance(threads, int) else "not used by this run"
    lines = [START, "", f"Measured {r['started']} with `{command}` on {m['cpus']} CPU cores "
             f"({m['cpu']}), {m['memory_gib']} GiB memory, GPU: {m['gpu']}; Python {m['python']}, "
             f"PyTorch {m['torch']} ({threads}); model `{r['model']}`, backend "
             f"`{r['backend']}`. Load average (1, 5, 15 min) before: {r['load_before']}, after: "
             f"{r['load_after']} (other work shares these cores, so treat small differences as "
             "noise).", "", "| Measure | Result | Target |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in table_rows(r)]
    if plot_name:
        lines += ["", f"![Throughput and latency]({plot_name})"]
    lines += ["", END]
    return "\n".join(lines)


def plot(r: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("bench_no_plot reason=matplotlib is not installed (pip install matplotlib)")
        return False
    speed = {f"raw encode\n({r.get('backend', 'torch')})": r["indexing"]["raw_chunks_per_s"],
             "pipeline": r["indexing"]["pipeline_chunks_per_s"]}
    for name in ("torch", "onnx-fp32", "onnx-int8"):
        if name in r.get("encoders", {}):
            speed[name] = r["encoders"][name]["chunks_per_s"]
    latency = {}
    for size, label in (("corpus", "corpus"), ("synthetic", "synthetic")):
        lat = r.get("latency", {}).get(size)
        if lat:
            latency[f"retrieve\n{label}"] = lat["retrieval"]
            latency[f"answer\n{label}"] = lat["answer"]
    if "load" in r:
        latency[f"HTTP x{r['load']['clients']}"] = r["load"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.bar(list(speed), list(speed.values()), color="#4c72b0")
    left.set_ylabel("passages per second")
    left.set_title("Embedding throughput")
    x = np.arange(len(latency))
    right.bar(x - 0.2, [v["p50_ms"] for v in latency.values()], 0.4, label="p50")
    right.bar(x + 0.2, [v["p95_ms"] for v in latency.values()], 0.4, label="p95")
    right.set_xticks(x, list(latency), fontsize=8)
    right.set_yscale("log")
    right.set_ylabel("milliseconds (log scale)")
    right.set_title("Question latency")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_report(r: dict[str, Any], md_path: Path, command: str) -> None:
    """Replace the measured section of ``md_path`` (between the bench markers), keeping the rest."""
    png = md_path.with_name("benchmarks.png")
    section = markdown(r, command, png.name if plot(r, png) else None)
    old = md_path.read_text(encoding="utf-8") if md_path.exists() else "# Benchmarks\n\n"
    if START in old and END in old:
        new = old[:old.index(START)] + section + old[old.index(END) + len(END):]
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(new, encoding="utf-8")

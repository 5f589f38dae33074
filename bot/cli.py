"""The command line: ``python -m bot index | ask | status | serve | eval | bench | rollback``.

Each command parses its flags, calls one use case on the bot built by
:func:`bot.wiring.build_bot`, and renders the result as text or JSON. Errors become one sentence
on stderr and the exit codes of DESIGN.md: 0 done, 1 done but some input failed, 2 usage or
configuration error, 3 no index yet. ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

log = logging.getLogger("bot.cli")


class Context:
    def __init__(self, debug: bool) -> None:
        self.debug = debug

    def bot(self, **overrides: Any):
        from bot.config import load_settings
        from bot.wiring import build_bot

        return build_bot(load_settings(**overrides))


def _configure_logging(debug: bool, verbose: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in ("httpx", "chromadb", "sentence_transformers", "urllib3", "transformers",
                  "bm25s"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks and debug logging.")
@click.option("--verbose", "-v", is_flag=True, help="Log what is happening (key=value lines).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """Guidance chatbot for artists working in criminal justice settings."""
    _configure_logging(debug, verbose)
    ctx.obj = Context(debug)


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


@cli.command()
@click.option("--docs", "docs_dir", type=click.Path(path_type=Path), help="Documents folder.")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index folder.")
@click.option("--full", is_flag=True, help="Rebuild everything instead of only what changed.")
@click.option("--dry-run", is_flag=True, help="Report what would change; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def index(obj: Context, docs_dir, index_dir, full, dry_run, as_json) -> None:
    """Index the guidance documents (incrementally unless --full)."""
    from bot.ingest.indexer import drive
    from bot.progress import CliProgress

    bot = obj.bot(docs_dir=docs_dir, index_dir=index_dir)
    with CliProgress(enabled=not as_json) as bar:
        report = drive(bot.index(full=full, dry_run=dry_run), bar.update)
    if as_json:
        _emit_json(report.to_dict())
    else:
        from bot.render import index_summary

        click.echo(index_summary(report))
    if report.failed:
        sys.exit(1)


@cli.command()
@click.argument("questions", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per question.")
@click.option("--k", type=click.IntRange(1, 50), help="Passages to consider (default 5).")
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE",
              help="Filter by doc_type (guidance/evidence), setting or source. Repeatable.")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index folder.")
@click.pass_obj
def ask(obj: Context, questions, as_json, k, filters, index_dir) -> None:
    """Answer each QUESTION from the guidance, with citations."""
    parsed = {}
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--filter needs KEY=VALUE, not '{item}'.")
        parsed[key.strip()] = value.strip()
    bot = obj.bot(index_dir=index_dir, top_k=k)
    bot.require_index()
    from bot.render import answer_text

    for question in questions:
        answer = bot.ask(question, filters=parsed)
        if as_json:
            _emit_json(answer.to_dict(question))
        else:
            click.echo(answer_text(question, answer, multiple=len(questions) > 1))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print status as JSON.")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index folder.")
@click.pass_obj
def status(obj: Context, as_json, index_dir) -> None:
    """Show documents, chunks, the live version, the model and when it was last indexed."""
    bot = obj.bot(index_dir=index_dir)
    info = bot.status()
    if as_json:
        _emit_json(info.to_dict())
    else:
        from bot.render import status_text

        click.echo(status_text(info))
    if not info.ready:
        sys.exit(3)


@cli.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default 7860).")
@click.pass_obj
def serve(obj: Context, host, port) -> None:
    """Run the web app (chat, sources, HTTP API)."""
    from bot.web.api import serve as run_server

    bot = obj.bot(host=host, port=port)
    run_server(bot)


@cli.command()
@click.pass_obj
def rollback(obj: Context) -> None:
    """Make the previous index version live again."""
    version = obj.bot().rollback()
    click.echo(f"Version {version.id} ({version.documents} documents, {version.chunks} passages, "
               f"built {version.created}) is live again.")


@cli.command(name="eval")
@click.option("--questions", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The project's question set (YAML).")
@click.option("--dataset", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A BEIR-format dataset folder (corpus.jsonl, queries.jsonl, qrels/).")
@click.option("--mode", type=click.Choice(["dense", "bm25", "hybrid", "all"]), default="all",
              show_default=True, help="Retrieval mode(s) to measure.")
@click.option("--split", default=None, help="BEIR qrels split [default: test when the dataset "
              "has it, else train].")
@click.option("--part", type=click.Choice(["all", "tune", "holdout", "train", "dev", "test"]),
              default="all", show_default=True, help="Only the questions used for tuning, or "
              "only the held-out ones: a question set's 'part' field (unmarked questions are "
              "'tune'), or a safety set's 'split' (train, dev, test); for BEIR, the third chosen "
              "by a hash of the query id.")
@click.option("--whole-documents", "whole", is_flag=True,
              help="BEIR: index each document as one passage (as the published baselines do) "
              "instead of cutting it into the chatbot's passages.")
@click.option("--limit", type=click.IntRange(1), help="Evaluate only the first N queries.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.pass_obj
def eval_(obj: Context, questions, dataset, mode, split, part, whole, limit, as_json) -> None:
    """Measure retrieval and answer quality on a question set or a BEIR dataset."""
    if bool(questions) == bool(dataset):
        raise click.UsageError("Give exactly one of --questions FILE or --dataset DIR.")
    from bot.ops import evaluation
    from bot.render import eval_text

    bot = _bot_with_backend()
    modes = ["dense", "bm25", "hybrid"] if mode == "all" else [mode]
    if questions:
        bot.require_index()
        result = evaluation.evaluate_questions(bot, questions, modes, limit=limit, part=part)
    else:
        result = evaluation.evaluate_beir(bot, dataset, modes, split=split, limit=limit,
                                          progress=not as_json, part=part, whole=whole)
    if as_json:
        _emit_json(result)
    else:
        click.echo(eval_text(result))


def _bot_with_backend(**overrides: Any):
    """The bot, with the embedding backend of BOT_EMBED_BACKEND (torch or ONNX Runtime)."""
    from bot.config import load_settings
    from bot.models.embeddings import embeddings_for
    from bot.wiring import build_bot

    settings = load_settings(**overrides)
    return build_bot(settings, embeddings=embeddings_for(settings))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("docs/benchmarks.md"), show_default=True,
              help="Markdown file whose measured section (and the PNG beside it) is rewritten.")
@click.option("--no-report", is_flag=True, help="Print the figures only; write no file.")
@click.option("--synthetic", type=click.IntRange(100), default=50_000, show_default=True,
              help="Passages in the large synthetic index for the latency figures.")
@click.option("--questions", "n_questions", type=click.IntRange(1), default=60,
              show_default=True, help="Questions timed per latency figure.")
@click.option("--clients", type=click.IntRange(1), default=8, show_default=True,
              help="Concurrent HTTP clients in the load test.")
@click.option("--requests", type=click.IntRange(1), default=160, show_default=True,
              help="Requests the clients send in all.")
@click.option("--rounds", type=click.IntRange(1), default=3, show_default=True,
              help="Repeats of each throughput figure; the best is kept.")
@click.option("--skip", multiple=True, type=click.Choice(["encoders", "latency", "load"]),
              help="Leave out a part (repeatable): encoders, latency, load (and start-up).")
@click.option("--scaleout", "scaleout", flag_value="also", default=None,
              help="Also run the scale-out comparison (embedded vs Chroma server with two app "
              "processes, 16 clients, a reindex during the load); writes docs/scaleout.md.")
@click.option("--scaleout-only", "scaleout", flag_value="only",
              help="Run only the scale-out comparison.")
@click.pass_obj
def bench(obj: Context, as_json, out, no_report, synthetic, n_questions, clients, requests,
          rounds, skip, scaleout) -> None:
    """Measure indexing, encoder speed, latency, load and start-up; write docs/benchmarks.md."""
    from bot.ops.bench import PARTS, BenchOptions, run_bench
    from bot.ops.bench_report import table_rows, write_report

    bot = _bot_with_backend()
    if scaleout:
        from bot.models.embeddings import backend_name, explicit_backend
        from bot.ops.scaleout import run_scaleout, write_scaleout

        figures = run_scaleout(Path(bot.settings.docs_dir), bot.settings.embed_model,
                               cache=Path(bot.settings.index_dir) / "cache" / "embeddings.sqlite",
                               lend_from=Path(bot.settings.index_dir),
                               backend=explicit_backend(bot.settings))
        if not no_report:
            write_scaleout(figures, out.with_name("scaleout.md"), backend_name(bot.embeddings))
        if scaleout == "only":
            if as_json:
                _emit_json({"scaleout": figures})
            else:
                for mode, row in figures.items():
                    click.echo(f"{mode}: {row}")
            return
    parts = [p for p in PARTS if p not in skip and not (p == "startup" and "load" in skip)]
    options = BenchOptions(synthetic=synthetic, questions=n_questions, clients=clients,
                           requests=requests, rounds=rounds, parts=parts)
    result = run_bench(bot.settings, bot.embeddings, options,
                       progress=None if as_json else lambda s: click.echo(f"... {s}", err=True))
    if not no_report:
        args = sys.argv[sys.argv.index("bench") + 1:] if "bench" in sys.argv else []
        write_report(result, out, " ".join(["python -m bot bench", *args]))
    if as_json:
        _emit_json(result)
    else:
        for name, value, target in table_rows(result):
            click.echo(f"{name}: {value}" + (f"  [target {target}]" if target else ""))


def main(argv: list[str] | None = None) -> None:
    """Run the CLI, turning BotError into one sentence on stderr and the right exit code."""
    from bot.errors import BotError

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="python -m bot", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Stopped.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code == 1 else exc.exit_code)
    except BotError as exc:
        if debug:
            raise
        click.echo(f"Error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Stopped.", err=True)
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        click.echo(f"Error: something unexpected went wrong ({type(exc).__name__}: {exc}); "
                   "run again with --debug for details.", err=True)
        sys.exit(2)

"""The `microfleet` command. Thin: parse, call one function, print."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

# Offline by construction: models come from packages; never reach for a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from microfleet.cli.errors import friendly_errors
from microfleet.cli.eval import register as register_eval
from microfleet.cli.feedback import register as register_feedback
from microfleet.cli.fleet import register as register_fleet
from microfleet.cli.progress import IngestProgress
from microfleet.cli.serving import register as register_serving
from microfleet.cli.training import register as register_training
from microfleet.config import Settings
from microfleet.errors import UserError

if TYPE_CHECKING:
    from microfleet.features.ingest import IngestResult

app = typer.Typer(
    help="microfleet: a streaming knowledge base, a fleet of micromodels, an orchestrator.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
kb_app = typer.Typer(help="Inspect and maintain the knowledge base.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")
register_training(app)
register_serving(app)
register_fleet(app)
register_eval(app)
register_feedback(app)


@app.callback()
def _quiet_libraries() -> None:
    """Libraries' info logs and deprecation chatter are not for the user's terminal."""
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)


@app.command()
@friendly_errors
def ingest(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Files, directories, feed URLs, ws(s):// URLs, or - for JSONL on stdin."
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary as the last line; no progress bar.")
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep feeds and WebSockets running until Ctrl-C.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", min=1, help="Bytewax workers in each process."),
    ] = None,
    processes: Annotated[
        int,
        typer.Option(
            "--processes",
            "-p",
            min=1,
            help="Run a Bytewax cluster of this many processes on this machine; the first "
            "holds the store and writes, all of them embed.",
        ),
    ] = 1,
) -> None:
    """Stream documents into the knowledge base: parse, clean, chunk, embed, upsert."""
    from microfleet.features.sources import resolve_inputs

    settings = Settings()
    specs = resolve_inputs(inputs)
    _check_alpaca_keys(settings, specs)
    stop = _stop_on_ctrl_c()
    if processes > 1:
        from microfleet.features.cluster import ClusterPlan, run_cluster

        plan = ClusterPlan(inputs, processes, workers or settings.workers, follow)
        with IngestProgress(enabled=not as_json and sys.stderr.isatty()) as progress:
            result = run_cluster(plan, settings, progress.update, stop)
    else:
        result = _ingest_here(specs, settings, follow, workers, stop, as_json)
    stats = result.stats
    _print_summary(result, settings, as_json, processes)
    raise typer.Exit(0 if stats.documents + stats.unchanged > 0 else 1)


def _ingest_here(
    specs: list[Any],
    settings: Settings,
    follow: bool,
    workers: int | None,
    stop: threading.Event,
    quiet: bool,
) -> IngestResult:
    from microfleet.features.ingest import load_context, run_ingest

    with _status("loading models", quiet=quiet):
        ctx = load_context(settings)
    with ctx.store, IngestProgress(enabled=not quiet and sys.stderr.isatty()) as progress:
        return run_ingest(
            specs, settings, ctx, follow, workers, on_batch=progress.update, stop=stop
        )


def _print_summary(
    result: IngestResult, settings: Settings, as_json: bool, processes: int = 1
) -> None:
    stats = result.stats
    cluster = processes > 1
    if as_json:
        extra = {"processes": result.processes} if cluster else {}
        typer.echo(json.dumps(stats.as_dict() | extra))
        return
    note = " (stopped by Ctrl-C)" if result.interrupted else ""
    where = f", embedded by {result.processes} of {processes} processes" if cluster else ""
    typer.echo(
        f"ingested {stats.documents} documents ({stats.chunks} chunks), "
        f"{stats.unchanged} unchanged, {stats.failed} failed{where}{note}"
    )
    if stats.failed:
        typer.echo(f"failed documents were kept in {settings.dead_letter_path}", err=True)


def _stop_on_ctrl_c() -> threading.Event:
    """First Ctrl-C: sources finish and in-flight batches still land. Second: quit."""
    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, handle)
    return stop


def _check_alpaca_keys(settings: Settings, specs: list[Any]) -> None:
    if any(s.kind == "alpaca" for s in specs) and not (
        settings.alpaca_key_id and settings.alpaca_secret_key
    ):
        raise UserError(
            "the news WebSocket needs keys: set MICROFLEET_ALPACA_KEY_ID and "
            "MICROFLEET_ALPACA_SECRET_KEY"
        )


@app.command()
@friendly_errors
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=100, help="How many results.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list, best first.")] = False,
    since: Annotated[
        str | None,
        typer.Option(
            help="Only documents published on or after this date (RFC 3339 or YYYY-MM-DD)."
        ),
    ] = None,
    symbol: Annotated[
        list[str] | None, typer.Option(help="Only documents tagged with this symbol (repeatable).")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="Only documents with this tag (repeatable).")
    ] = None,
    mode: Annotated[str, typer.Option(help="hybrid, dense or sparse.")] = "hybrid",
) -> None:
    """Hybrid (dense + BM25) search over the knowledge base."""
    from microfleet.core.hits import QueryMode
    from microfleet.knowledge.service import fleet_glossary, open_search, parse_filter

    modes: dict[str, QueryMode] = {"hybrid": "hybrid", "dense": "dense", "sparse": "sparse"}
    if mode not in modes:
        raise UserError(f"unknown --mode '{mode}'; use hybrid, dense or sparse")
    flt = parse_filter(since, symbol or [], tag or [])
    settings = Settings()
    with open_search(settings) as searcher:
        asked = fleet_glossary(settings).expand(query)
        hits = searcher.search(asked, k=k, flt=flt, mode=modes[mode])
    if as_json:
        typer.echo(json.dumps([h.as_dict() for h in hits], ensure_ascii=False))
        return
    if not hits:
        typer.echo("no results (is the knowledge base empty? try `microfleet ingest PATH`)")
    for rank, hit in enumerate(hits, start=1):
        snippet = " ".join(hit.text.split())[:200]
        typer.echo(f"{rank}. [{hit.score:.3f}] {hit.title or hit.doc_id}  ({hit.doc_id})")
        typer.echo(f"   {snippet}")


@kb_app.command("stats")
@friendly_errors
def kb_stats(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """How many documents and chunks the knowledge base holds."""
    from microfleet.knowledge.service import knowledge_stats

    stats = knowledge_stats(Settings())
    typer.echo(
        json.dumps(stats)
        if as_json
        else f"{stats['documents']} documents, {stats['chunks']} chunks"
    )


@kb_app.command("optimize")
@friendly_errors
def kb_optimize() -> None:
    """Build the HNSW index now (an ingest does it by itself past 20,000 unindexed points)."""
    from microfleet.knowledge.service import optimize_store

    with _status("building the index", quiet=False):
        changed = optimize_store(Settings())
    typer.echo("index built" if changed else "index already up to date")


@contextmanager
def _status(message: str, quiet: bool) -> Iterator[None]:
    if quiet or not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield

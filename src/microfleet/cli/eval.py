"""`microfleet eval`: retrieval, answers, routing, and RAG against fine-tuning. Thin: each command
loads its set, calls evaluation/, prints a table (or one JSON object with --json) and logs the
figures to MLflow as an evaluation run."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from microfleet.cli.errors import friendly_errors
from microfleet.config import Settings

eval_app = typer.Typer(help="Measure retrieval, answers and routing on labelled sets.")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout.")]
TrackOpt = Annotated[bool, typer.Option("--track/--no-track", help="Log an MLflow run.")]
SetArg = Annotated[Path, typer.Argument(help="A JSONL file, one labelled question per line.")]


@eval_app.command("retrieval")
@friendly_errors
def retrieval(
    questions: SetArg,
    k: Annotated[int, typer.Option(min=1, max=100, help="Cut-off for hit@k, recall@k.")] = 5,
    as_json: JsonOpt = False,
    track: TrackOpt = True,
) -> None:
    """hit@1, hit@3, hit@k, MRR@10, recall@k: hybrid, dense-only and sparse-only side by side.

    Lines are {question, relevant_ids: [doc_id, ...]}; ingest the corpus first. Each question
    is searched as the assistant searches it, with the fleet glossary's long forms."""
    from microfleet.evaluation.service import eval_retrieval

    settings = Settings()
    with _progress(as_json) as progress:
        report = eval_retrieval(settings, questions, k, progress)
    _finish(settings, "retrieval", report, as_json, track, _retrieval_rows(report))


@eval_app.command("answers")
@friendly_errors
def answers(
    questions: SetArg,
    model: Annotated[
        str | None,
        typer.Option(help="Base model, micromodel name, or fleet (the orchestrator, as served)."),
    ] = None,
    mode: Annotated[str, typer.Option(help="none | rag | finetuned | both.")] = "rag",
    max_tokens: Annotated[int, typer.Option(min=1, max=2048)] = 64,
    as_json: JsonOpt = False,
    track: TrackOpt = True,
) -> None:
    """Exact match, token F1, numeric match, ROUGE-L, faithfulness, answer rate, latency, tokens/s.

    Lines are {question, answer: str | [str, ...]}. --mode finetuned/both use the micromodel's
    registered adapter; rag/both add context retrieved within its scope. --model fleet asks
    the orchestrator as users do (routing, micromodels, composition; no cache)."""
    from microfleet.evaluation.service import eval_answers

    settings = Settings()
    with _progress(as_json) as progress:
        report = eval_answers(settings, questions, model, mode, max_tokens, progress)
    rows = [[k, v] for k, v in report.items() if k != "skipped"]
    _finish(settings, "answers", report, as_json, track, [["metric", "value"], *rows])


@eval_app.command("routing")
@friendly_errors
def routing(
    questions: SetArg,
    routers: Annotated[str, typer.Option(help="Comma-separated: semantic, llm, hybrid.")] = (
        "semantic,hybrid"
    ),
    as_json: JsonOpt = False,
    track: TrackOpt = True,
) -> None:
    """Micromodel selection accuracy and argument accuracy, per router.

    Lines are {question, calls: [{name, arguments?}, ...]} (fleets/*/routing.jsonl)."""
    from microfleet.evaluation.service import eval_routing

    names = [r.strip() for r in routers.split(",") if r.strip()]
    bad = [r for r in names if r not in ("semantic", "llm", "hybrid")]
    if bad or not names:
        raise typer.BadParameter(f"unknown router(s) {bad}; use semantic, llm, hybrid")
    settings = Settings()
    with _progress(as_json) as progress:
        report = eval_routing(settings, questions, names, progress)
    header = ["router", "accuracy", "argument_accuracy", "valid_calls", "p50_ms", "p95_ms"]
    rows = [[n, *(report[n][h] for h in header[1:])] for n in names]
    _finish(settings, "routing", report, as_json, track, [header, *rows])


@eval_app.command("compare")
@friendly_errors
def compare(
    micromodel: Annotated[str, typer.Argument(help="A micromodel with a dataset and adapter.")],
    out: Annotated[Path | None, typer.Option(help="The bar chart (PNG).")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, max=2048)] = 64,
    as_json: JsonOpt = False,
    track: TrackOpt = True,
) -> None:
    """RAG vs fine-tuning: the micromodel's test split four ways (base / fine-tuned, without /
    with retrieved context), as a table and a bar chart."""
    from microfleet.evaluation.compare import eval_compare

    settings = Settings()
    chart = out or settings.home / "eval" / f"compare-{micromodel}.png"
    with _progress(as_json) as progress:
        report = eval_compare(settings, micromodel, chart, max_tokens, progress)
    metrics = ["f1", "exact_match", "numeric_match", "rouge_l", "faithfulness", "latency_p50_ms"]
    rows = [[way, *(row[m] for m in metrics)] for way, row in report["ways"].items()]
    _finish(settings, "compare", report, as_json, track, [["way", *metrics], *rows], [chart])
    if not as_json:
        typer.echo(f"chart: {chart}")


def _retrieval_rows(report: dict[str, Any]) -> list[list[Any]]:
    header = ["search", "hit@1", "hit@3", "hit@k", "mrr@10", "recall@k"]
    return [
        header,
        *([m, *(report[m][h] for h in header[1:])] for m in ("hybrid", "dense", "sparse")),
    ]


def _finish(
    settings: Settings,
    kind: str,
    report: dict[str, Any],
    as_json: bool,
    track: bool,
    table: list[list[Any]],
    artifacts: list[Path] | None = None,
) -> None:
    if track:
        from microfleet.evaluation.service import log_evaluation
        from microfleet.training.service import fleet_of

        report["mlflow_run_id"] = log_evaluation(
            settings, fleet_of(settings).name, kind, report, artifacts or []
        )
    if as_json:
        typer.echo(json.dumps(report))
        return
    _print_table(table)
    for key in ("n", "k", "missing_ids", "mlflow_run_id"):
        if key in report:
            typer.echo(f"{key}: {report[key]}")
    for line in report.get("skipped", []):
        typer.echo(f"skipped {line}", err=True)


def _print_table(rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*[str(h) for h in rows[0]])
    for row in rows[1:]:
        table.add_row(*[_cell(v) for v in row])
    Console().print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[str, int], Callable[[], None]]]:
    """A progress bar on stderr per stage; nothing when quiet or not on a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    show = not quiet and sys.stderr.isatty()
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, disable=not show, transient=True) as progress:

        def stage(label: str, total: int) -> Callable[[], None]:
            task = progress.add_task(label, total=total)
            return lambda: progress.advance(task)

        yield stage


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")

"""Training commands: dataset generate, train, promote, models. Thin, like cli.py."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from microfleet.cli.errors import friendly_errors
from microfleet.cli.progress import RateColumn
from microfleet.config import Settings

if TYPE_CHECKING:
    from microfleet.micromodel.spec import FleetSpec, MicromodelSpec
    from microfleet.training.runs import RunSummary


def _micromodel(name: str) -> tuple[Settings, FleetSpec, MicromodelSpec]:
    """Settings, the configured fleet, and its micromodel `name` (or a one-line error)."""
    from microfleet.training.service import fleet_of

    settings = Settings()
    fleet = fleet_of(settings)
    return settings, fleet, fleet.get(name)


dataset_app = typer.Typer(help="Build micromodel training datasets.", no_args_is_help=True)


@dataset_app.command("generate")
@friendly_errors
def dataset_generate(
    micromodel: Annotated[str, typer.Argument(help="A micromodel of the fleet.")],
    with_feedback: Annotated[
        bool,
        typer.Option(
            "--with-feedback",
            help="Add people's corrected and thumbs-up answers for it (train split only).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Q&A pairs with retrieved context: from the spec's data table, or answered by the teacher."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from microfleet.training.service import generate_dataset

    settings, fleet, spec = _micromodel(micromodel)
    show = not as_json and sys.stderr.isatty()
    columns = [
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        RateColumn("questions"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, disable=not show, transient=True) as progress:
        task = progress.add_task(f"{spec.name}: questions", total=None)
        result = generate_dataset(
            settings, fleet, spec, lambda: progress.advance(task), with_feedback=with_feedback
        )
    feedback = asdict(result.feedback) if result.feedback else None
    summary = {
        "micromodel": spec.name,
        "train": len(result.train),
        "test": len(result.test),
        "skipped": result.skipped,
        "hash": result.content_hash,
        "directory": str(result.directory),
        "feedback": feedback,
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(
        f"{spec.name}: {summary['train']} train / {summary['test']} test pairs, "
        f"{result.skipped} skipped, hash {result.content_hash} -> {result.directory}"
    )
    if feedback is not None:
        typer.echo(
            f"feedback: {feedback['added']} added, {feedback['replaced']} replaced generated "
            f"pairs, {feedback['held_out']} kept out (asked in the test split), "
            f"{feedback['duplicates']} older duplicates"
        )


def train(
    micromodel: Annotated[str, typer.Argument(help="A micromodel of the fleet.")],
    epochs: Annotated[int | None, typer.Option(min=1, help="Override the spec's epochs.")] = None,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many steps.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """LoRA fine-tuning with per-epoch evaluation, tracked in MLflow; registers a challenger."""
    from rich.progress import Progress, TextColumn

    from microfleet.training.runs import run_training

    settings, fleet, spec = _micromodel(micromodel)
    show = not as_json and sys.stderr.isatty()
    columns = [
        *Progress.get_default_columns(),
        RateColumn("steps"),
        TextColumn("loss {task.fields[loss]:.3f}"),
    ]
    with Progress(*columns, disable=not show, transient=True) as progress:
        task = progress.add_task(f"training {spec.name}", total=max_steps, loss=float("nan"))
        summary = run_training(
            settings,
            fleet,
            spec,
            epochs,
            max_steps,
            on_step=lambda step, loss: progress.update(task, completed=step, loss=loss),
        )
    _print_train_summary(spec.name, summary, as_json)


def _print_train_summary(name: str, summary: RunSummary, as_json: bool) -> None:
    result = summary.result
    out = {
        "micromodel": name,
        "run_id": summary.run_id,
        "version": summary.version,
        "steps": result.steps,
        "first_loss": result.first_loss,
        "last_loss": result.last_loss,
        **result.final,
    }
    if as_json:
        typer.echo(json.dumps(out))
        return
    nan = float("nan")
    typer.echo(
        f"{name}: v{summary.version} registered as challenger "
        f"(loss {result.first_loss:.3f} -> {result.last_loss:.3f}, "
        f"test metric {out.get('test_metric', nan):.3f} with context, "
        f"{out.get('test_metric_no_context', nan):.3f} without; "
        f"base model {out.get('base_metric', nan):.3f})"
    )


def promote(
    micromodel: Annotated[str, typer.Argument(help="A micromodel of the fleet.")],
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if it scores lower.")
    ] = False,
) -> None:
    """Make the challenger the champion if its test metric is at least the champion's; with
    MICROFLEET_LLM_URL set (vLLM), the server then serves the new champion."""
    from microfleet.training.registry import promote as promote_version
    from microfleet.training.registry import tracking
    from microfleet.training.shipped import serve_champion

    settings, _, spec = _micromodel(micromodel)
    result = promote_version(tracking(settings), spec.registered_name(), force=force)
    typer.echo(result.message)
    if result.promoted and settings.llm_url:
        typer.echo(serve_champion(settings, spec))


def models(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Micromodels with their registered versions, aliases and test metrics."""
    from microfleet.training.service import fleet_of, models_overview

    settings = Settings()
    overview = models_overview(settings, fleet_of(settings))
    if as_json:
        typer.echo(json.dumps(overview))
        return
    for entry in overview:
        fb = entry["feedback"]
        typer.echo(
            f"{entry['micromodel']} ({entry['registered_model']})  feedback: "
            f"{fb['up']} up, {fb['down']} down, {fb['corrections']} corrections"
        )
        for v in entry["versions"] or [
            {"version": "-", "aliases": [], "test_metric": float("nan")}
        ]:
            tags = ", ".join(v["aliases"]) or ""
            typer.echo(f"  v{v['version']}  metric {v['test_metric']:.4f}  {tags}")


def register(app: typer.Typer) -> None:
    app.add_typer(dataset_app, name="dataset")
    app.command()(friendly_errors(train))
    app.command()(friendly_errors(promote))
    app.command()(friendly_errors(models))

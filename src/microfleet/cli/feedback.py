"""Feedback commands: list and export people's ratings of answers. Thin."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from microfleet.cli.errors import friendly_errors
from microfleet.config import Settings
from microfleet.privacy import PiiRedactor

if TYPE_CHECKING:
    from microfleet.feedback.store import FeedbackEntry

feedback_app = typer.Typer(
    help="Ratings and corrections of answers, as the playground and POST /v1/feedback store them.",
    no_args_is_help=True,
)

MicromodelOption = Annotated[
    str | None,
    typer.Option("--micromodel", "-m", help="Only answers that came from this micromodel."),
]


def _entries(micromodel: str | None, limit: int | None = None) -> list[FeedbackEntry]:
    from microfleet.feedback.store import open_feedback

    with open_feedback(Settings()) as store:
        return store.entries(micromodel, limit)


@feedback_app.command("list")
@friendly_errors
def list_feedback(
    micromodel: MicromodelOption = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """The newest feedback: rating, model, question and any correction."""
    from rich.console import Console
    from rich.table import Table

    entries = _entries(micromodel, limit)
    if as_json:
        typer.echo(json.dumps([e.as_dict() for e in entries], ensure_ascii=False))
        return
    if not entries:
        typer.echo("no feedback yet; rate answers in the playground or POST /v1/feedback")
        return
    table = Table("id", "when (UTC)", "rating", "model", "question", "correction")
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(e.created))
        table.add_row(
            str(e.id),
            when,
            "+1" if e.rating > 0 else "-1",
            e.response.model,
            _short(e.response.question),
            _short(e.correction or ""),
        )
    Console().print(table)


@feedback_app.command("export")
@friendly_errors
def export_feedback(
    micromodel: MicromodelOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON array instead of JSON lines.")
    ] = False,
) -> None:
    """Every feedback entry with its answer, sources and trace: JSON lines (or --json),
    with the PII the deployment redacts (MICROFLEET_PII_ENTITIES) replaced by <ENTITY>."""
    redactor = PiiRedactor(Settings().pii_entities)
    rows = [redactor.redact_data(e.as_dict()) for e in _entries(micromodel)]
    if as_json:
        text = json.dumps(rows, ensure_ascii=False) + "\n"
    else:
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"{len(rows)} feedback entries -> {output}", err=True)


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def register(app: typer.Typer) -> None:
    app.add_typer(feedback_app, name="feedback")

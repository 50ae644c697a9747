"""Fleet commands: show the micromodels as tools, and train the whole fleet. Thin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from microfleet.cli.errors import friendly_errors
from microfleet.config import Settings

if TYPE_CHECKING:
    from microfleet.micromodel.spec import MicromodelSpec

fleet_app = typer.Typer(help="The fleet: micromodels the orchestrator calls as tools.")


@fleet_app.command("show")
@friendly_errors
def show(
    fleet_file: Annotated[
        Path | None, typer.Option("--fleet", help="A fleet file; default: MICROFLEET_FLEET.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Validate the fleet, then list each micromodel: its tool signature and champion."""
    from microfleet.errors import UserError
    from microfleet.micromodel.scaffold import missing_files
    from microfleet.micromodel.spec import load_fleet
    from microfleet.training.service import models_overview

    settings = Settings() if fleet_file is None else Settings(fleet=fleet_file)
    fleet = load_fleet(settings.fleet)
    if problems := missing_files(fleet):
        raise UserError(f"{settings.fleet}: {'; '.join(problems)}")
    versions = {e["micromodel"]: e["versions"] for e in models_overview(settings, fleet)}
    entries = [
        {
            "name": spec.name,
            "description": spec.description,
            "parameters": spec.parameters,
            "champion": _champion(versions.get(spec.name, [])),
        }
        for spec in fleet.micromodels
    ]
    if as_json:
        typer.echo(json.dumps({"fleet": fleet.name, "micromodels": entries}))
        return
    typer.echo(f"{fleet.name}: {fleet.description}")
    for spec, entry in zip(fleet.micromodels, entries, strict=True):
        args = ", ".join(spec.parameters.get("properties", {}))
        champion = f"v{entry['champion']}" if entry["champion"] else _stand_in(settings, spec)
        typer.echo(f"  {entry['name']}({args})  [{champion}]")
        typer.echo(f"      {entry['description']}")


def _stand_in(settings: Settings, spec: MicromodelSpec) -> str:
    """What answers for a micromodel with no adapter (as /readyz says)."""
    quoted = settings.quote_sources and spec.quotable
    said = "its sources where they answer, else the base model" if quoted else "the base model"
    return f"no adapter: {said}"


@fleet_app.command("new")
@friendly_errors
def new(
    name: Annotated[str, typer.Argument(help="The fleet's name (lower case).")],
    root: Annotated[Path, typer.Option(help="Where fleets live.")] = Path("fleets"),
) -> None:
    """Scaffold a fleet: its spec, seed questions, an empty corpus and a routing set."""
    from microfleet.micromodel.scaffold import new_fleet

    spec = new_fleet(root, name)
    typer.echo(f"created {spec.parent}: edit fleet.yaml and seeds/, put documents in corpus/")
    typer.echo(f"  check it:  microfleet fleet show --fleet {spec}")
    typer.echo(f"  use it:    MICROFLEET_FLEET={spec} microfleet ingest {spec.parent / 'corpus'}")


def _champion(versions: list[dict[str, Any]]) -> str | None:
    return next((str(v["version"]) for v in versions if "champion" in v["aliases"]), None)


@fleet_app.command("train")
@friendly_errors
def train_all(
    epochs: Annotated[int | None, typer.Option(min=1, help="Override each spec's epochs.")] = None,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Cap each run's steps.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """Dataset generation, training and gated promotion for every micromodel, in turn."""
    from microfleet.cli.training import dataset_generate, promote, train
    from microfleet.training.service import fleet_of

    for spec in fleet_of(Settings()).micromodels:
        dataset_generate(spec.name, as_json)
        train(spec.name, epochs, max_steps, as_json)
        promote(spec.name)


adapters_app = typer.Typer(help="Champion adapters as PEFT directories.", no_args_is_help=True)


@adapters_app.command("export")
@friendly_errors
def export(
    directory: Annotated[Path, typer.Argument(help="Where to write DIR/<micromodel>.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write each champion as a PEFT adapter directory with its provenance (run parameters,
    metrics, dataset hash, base model); `vllm serve --lora-modules NAME=DIR/NAME` loads it."""
    from microfleet.training.service import fleet_of
    from microfleet.training.shipped import export_champions

    settings = Settings()
    names = export_champions(settings, fleet_of(settings), directory)
    if as_json:
        typer.echo(json.dumps({"exported": names, "directory": str(directory)}))
    elif names:
        typer.echo(f"exported {', '.join(names)} to {directory}")
    else:
        typer.echo("no champion to export: train and promote a micromodel first")


def register(app: typer.Typer) -> None:
    app.add_typer(fleet_app, name="fleet")
    app.add_typer(adapters_app, name="adapters")

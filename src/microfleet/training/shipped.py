"""Adapters that ship with a fleet: `adapters export` writes each champion as a PEFT directory
with its provenance, and a fresh data dir registers them into its MLflow registry on first
use, as ordinary versions carrying their metrics. Nothing is downloaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from microfleet.config import Settings
from microfleet.errors import UserError
from microfleet.micromodel.spec import FleetSpec, MicromodelSpec
from microfleet.training.registry import (
    CHAMPION,
    download_adapter,
    experiment_id,
    register_version,
    tracking,
)

PROVENANCE = "provenance.json"


def export_champions(settings: Settings, fleet: FleetSpec, directory: Path) -> list[str]:
    """Each champion as `directory/<name>` (loadable by `vllm serve --lora-modules`), with
    the run's parameters and metrics in provenance.json; returns the names exported. A fresh
    data dir registers the fleet's shipped adapters first, as any first use does."""
    register_shipped(settings, fleet)
    client = tracking(settings)
    exported = []
    for spec in fleet.micromodels:
        try:
            source = download_adapter(settings, spec.registered_name(), CHAMPION)
        except UserError:
            continue  # never promoted
        version = client.get_model_version_by_alias(spec.registered_name(), CHAMPION)
        target = directory / spec.name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
        provenance = _provenance(client, spec, version)
        (target / PROVENANCE).write_text(json.dumps(provenance, indent=2) + "\n", "utf-8")
        exported.append(spec.name)
    return exported


def _provenance(client: Any, spec: MicromodelSpec, version: Any) -> dict[str, Any]:
    run = client.get_run(version.run_id)
    return {
        "micromodel": spec.name,
        "registered_model": spec.registered_name(),
        "version": int(version.version),
        "run_id": version.run_id,
        "params": {k: v for k, v in sorted(run.data.params.items()) if k != "shipped_from"},
        "metrics": dict(sorted(run.data.metrics.items())),
        "tags": dict(version.tags),
    }


def register_shipped(settings: Settings, fleet: FleetSpec) -> list[str]:
    """Register the fleet's shipped adapters for micromodels that have no version yet, each
    as the champion; returns the names registered. A registry with versions is left alone."""
    directory = fleet.path(fleet.adapters) if fleet.adapters else None
    if directory is None or not directory.is_dir():
        return []
    client = tracking(settings)
    registered = []
    for spec in fleet.micromodels:
        shipped = directory / spec.name
        if (shipped / PROVENANCE).is_file() and not _has_versions(client, spec):
            _register(settings, client, fleet, spec, shipped)
            registered.append(spec.name)
    return registered


def _has_versions(client: Any, spec: MicromodelSpec) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        return bool(client.search_model_versions(f"name='{spec.registered_name()}'"))
    except MlflowException:
        return False


def _register(
    settings: Settings, client: Any, fleet: FleetSpec, spec: MicromodelSpec, shipped: Path
) -> None:
    import mlflow

    provenance = json.loads((shipped / PROVENANCE).read_text("utf-8"))
    metrics = {k: float(v) for k, v in provenance.get("metrics", {}).items()}
    exp = experiment_id(client, settings, fleet.name)
    with mlflow.start_run(experiment_id=exp, run_name=f"{spec.name} (shipped)") as run:
        params = {**provenance.get("params", {}), "shipped_from": str(shipped)}
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics(metrics)
        files = [p for p in shipped.iterdir() if p.name != PROVENANCE]
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="adapter")
    tags = {k: metrics[k] for k in ("test_metric", "base_metric") if k in metrics}
    source = f"{run.info.artifact_uri}/adapter"
    version = register_version(client, spec.registered_name(), run.info.run_id, source, tags)
    client.set_registered_model_alias(spec.registered_name(), CHAMPION, version)


def serve_champion(settings: Settings, spec: MicromodelSpec) -> str:
    """Load `spec`'s champion into the running vLLM at MICROFLEET_LLM_URL under the
    micromodel's name (a copy under the data dir, which the server must be able to read);
    returns what was done, in one line."""
    from microfleet.llm.openai_backend import load_adapter

    assert settings.llm_url is not None
    client = tracking(settings)
    version = client.get_model_version_by_alias(spec.registered_name(), CHAMPION)
    source = download_adapter(settings, spec.registered_name(), CHAMPION)
    target = (settings.home / "served-adapters" / f"{spec.name}-v{version.version}").resolve()
    if not target.exists():
        shutil.copytree(source, target)
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    load_adapter(settings.llm_url, key, spec.name, str(target))
    return f"{settings.llm_url} now serves {spec.name} v{version.version}"

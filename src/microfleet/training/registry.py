"""The MLflow model registry: one registered model per micromodel, gated promotion by alias."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from microfleet.config import Settings
from microfleet.errors import UserError

CHALLENGER, CHAMPION = "challenger", "champion"


def tracking(settings: Settings) -> Any:
    """Point MLflow at the configured store and return a client."""
    import mlflow
    from mlflow.tracking import MlflowClient

    settings.home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return MlflowClient(settings.tracking_uri, settings.tracking_uri)


def experiment_id(client: Any, settings: Settings, fleet_name: str) -> str:
    name = f"microfleet-{fleet_name}"
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = None if settings.mlflow_uri else settings.artifact_dir.as_uri()
    return str(client.create_experiment(name, artifact_location=location))


def register_version(
    client: Any, name: str, run_id: str, source: str, metrics: dict[str, float]
) -> str:
    """A new version of `name` from a finished run, aliased `challenger`; `metrics` holds its
    `test_metric` and the base model's `base_metric` on the same test split."""
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):  # it may exist already
        client.create_registered_model(name)
    tags = {k: f"{v:.6f}" for k, v in metrics.items()}
    version = client.create_model_version(name, source=source, run_id=run_id, tags=tags)
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    return str(version.version)


@dataclass
class Promotion:
    promoted: bool
    message: str


def _by_alias(client: Any, name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def promote(client: Any, name: str, force: bool = False) -> Promotion:
    """Move `champion` to the challenger when its test metric beats the base model's and is
    at least the champion's."""
    challenger = _by_alias(client, name, CHALLENGER)
    if challenger is None:
        raise UserError(f"'{name}' has no challenger; run `microfleet train` first")
    champion = _by_alias(client, name, CHAMPION)
    new = float(challenger.tags.get("test_metric", "nan"))
    base = float(challenger.tags.get("base_metric", "nan"))
    if champion is not None and champion.version == challenger.version:
        return Promotion(False, f"version {challenger.version} is already the champion")
    known = not math.isnan(base)  # a version without a base figure is gated by the champion
    if known and not new > base and not force:
        return Promotion(
            False,
            f"not promoted: challenger v{challenger.version} scores {new:.4f}, "
            f"no better than the base model's {base:.4f}",
        )
    old = float(champion.tags.get("test_metric", "nan")) if champion is not None else None
    if champion is not None and old is not None and not new >= old and not force:
        return Promotion(
            False,
            f"kept champion v{champion.version}: challenger "
            f"v{challenger.version} scores {new:.4f} < {old:.4f}",
        )
    client.set_registered_model_alias(name, CHAMPION, challenger.version)
    why = " (forced past the gate)" if force and old is not None and new < old else ""
    return Promotion(True, f"champion is now v{challenger.version} ({new:.4f}){why}")


def list_versions(client: Any, name: str) -> list[dict[str, Any]]:
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException:
        return []
    aliases: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    return [
        {
            "version": int(v.version),
            "aliases": sorted(aliases.get(str(v.version), [])),
            "test_metric": float(v.tags.get("test_metric", "nan")),
            "run_id": v.run_id,
        }
        for v in sorted(versions, key=lambda v: int(v.version))
    ]


def download_adapter(settings: Settings, name: str, alias: str = CHAMPION) -> Path:
    """The adapter directory of `models:/name@alias`, or of `models:/name/N` when `alias` is a
    version number (cached locally by MLflow)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    tracking(settings)
    try:
        uri = f"models:/{name}/{alias}" if alias.isdigit() else f"models:/{name}@{alias}"
        return Path(mlflow.artifacts.download_artifacts(uri))
    except MlflowException as exc:
        raise UserError(f"cannot load {name}@{alias}: {str(exc).splitlines()[0]}") from None


def version_number(settings: Settings, name: str, ref: str = CHAMPION) -> str:
    """The version number `ref` (an alias or a number) stands for."""
    if ref.isdigit():
        return ref
    found = _by_alias(tracking(settings), name, ref)
    if found is None:
        raise UserError(f"'{name}' has no version aliased {ref}")
    return str(found.version)

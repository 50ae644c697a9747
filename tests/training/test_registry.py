"""The promotion gate, both ways, on a real MLflow registry (SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from microfleet.config import Settings
from microfleet.errors import UserError
from microfleet.training.registry import (
    experiment_id,
    list_versions,
    promote,
    register_version,
    tracking,
)


def _version(
    client: object, settings: Settings, tmp_path: Path, metric: float, base: float = 0.1
) -> str:
    import mlflow

    source = tmp_path / f"adapter-{metric}-{base}"
    source.mkdir()
    (source / "adapter_config.json").write_text("{}")
    exp = experiment_id(client, settings, "registry-test")  # artifacts under the data dir
    with mlflow.start_run(experiment_id=exp) as run:
        mlflow.log_artifacts(str(source), artifact_path="adapter")
    return register_version(
        client,
        "micromodel-x",
        run.info.run_id,
        f"{run.info.artifact_uri}/adapter",
        {"test_metric": metric, "base_metric": base},
    )


def test_promotion_gate_both_ways(settings: Settings, tmp_path: Path) -> None:
    client = tracking(settings)
    with pytest.raises(UserError, match="no challenger"):
        promote(client, "micromodel-x")
    _version(client, settings, tmp_path, 0.6, base=0.7)
    worse = promote(client, "micromodel-x")  # no champion, but the base model does better
    assert not worse.promoted and "no better than the base model's 0.7000" in worse.message
    _version(client, settings, tmp_path, 0.6)
    assert promote(client, "micromodel-x").promoted  # no champion yet, and beats the base

    _version(client, settings, tmp_path, 0.8)
    result = promote(client, "micromodel-x")
    assert result.promoted and "v3" in result.message

    _version(client, settings, tmp_path, 0.5)
    refused = promote(client, "micromodel-x")
    assert not refused.promoted and "0.5000 < 0.8000" in refused.message
    forced = promote(client, "micromodel-x", force=True)
    assert forced.promoted and "forced" in forced.message

    aliases = {v["version"]: v["aliases"] for v in list_versions(client, "micromodel-x")}
    assert aliases == {1: [], 2: [], 3: [], 4: ["challenger", "champion"]}

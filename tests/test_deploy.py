"""deploy/compose.yaml stays in step with the code: its variables are settings the code reads,
and vLLM loads every adapter the fleet ships. (No Docker daemon here: the file is not run.)"""

from __future__ import annotations

import re
from typing import Any

import yaml

from microfleet.config import Settings
from tests.conftest import REPO

COMPOSE = REPO / "deploy" / "compose.yaml"


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def test_the_topology_has_every_engine() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "qdrant", "mlflow", "vllm", "serve", "ingest"} <= set(services)
    assert services["serve"]["deploy"]["replicas"] == 2
    assert services["ingest"]["command"][:3] == ["ingest", "--processes", "2"]


def test_every_variable_is_a_setting() -> None:
    fields = {f"MICROFLEET_{name.upper()}" for name in Settings.model_fields}
    named = set(re.findall(r"\bMICROFLEET_[A-Z_]+\b", COMPOSE.read_text()))
    assert named <= fields, named - fields
    assert {"MICROFLEET_QDRANT_URL", "MICROFLEET_LLM_URL", "MICROFLEET_REDIS_URL"} <= named


def test_vllm_loads_every_shipped_adapter() -> None:
    args = _compose()["services"]["vllm"]["command"]
    modules = args[args.index("--lora-modules") + 1 :]
    loaded = {m.split("=", 1)[0] for m in modules if "=" in m and not m.startswith("--")}
    shipped = {p.name for p in (REPO / "fleets/finance/adapters").iterdir() if p.is_dir()}
    assert shipped and loaded == shipped

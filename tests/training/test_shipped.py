"""The adapters the reference fleet ships: registered on first use into a fresh data dir as
ordinary champion versions with their metrics, loadable, and exported back byte for byte."""

from __future__ import annotations

import json

from microfleet.config import Settings
from microfleet.micromodel.spec import load_fleet
from microfleet.training.registry import download_adapter, list_versions, tracking
from microfleet.training.shipped import PROVENANCE, export_champions, register_shipped
from tests.conftest import REPO

FLEET = REPO / "fleets" / "finance" / "fleet.yaml"
WEIGHTS = "adapter_model.safetensors"


def test_shipped_adapters_register_once_and_export_back(settings: Settings, tmp_path) -> None:
    fleet = load_fleet(FLEET)
    shipped = fleet.path(fleet.adapters or "")
    names = sorted(p.name for p in shipped.iterdir() if (p / PROVENANCE).is_file())
    assert "tax_rates" in names  # the default set-up provides the tax_rates specialist

    assert sorted(register_shipped(settings, fleet)) == names
    assert register_shipped(settings, fleet) == []  # once: a registry with versions is kept
    client = tracking(settings)
    for name in names:
        spec = fleet.get(name)
        provenance = json.loads((shipped / name / PROVENANCE).read_text())
        [version] = list_versions(client, spec.registered_name())
        assert version["aliases"] == ["challenger", "champion"]
        assert version["test_metric"] == round(provenance["metrics"]["test_metric"], 6)
        run = client.get_run(version["run_id"])
        assert run.data.params["dataset_hash"] == provenance["params"]["dataset_hash"]
        assert run.data.params["base_model"] == provenance["params"]["base_model"]
        loaded = download_adapter(settings, spec.registered_name())
        assert (loaded / WEIGHTS).read_bytes() == (shipped / name / WEIGHTS).read_bytes()

    out = tmp_path / "exported"
    assert sorted(export_champions(settings, fleet, out)) == names
    for name in names:
        assert (out / name / WEIGHTS).read_bytes() == (shipped / name / WEIGHTS).read_bytes()
        assert json.loads((out / name / PROVENANCE).read_text())["metrics"]

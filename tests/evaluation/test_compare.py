"""`eval compare`: RAG vs fine-tuning on a tiny real run, as a table, a PNG and an MLflow run."""

from __future__ import annotations

from pathlib import Path

import pytest

from microfleet.config import Settings
from microfleet.evaluation.compare import eval_compare
from microfleet.evaluation.service import log_evaluation
from microfleet.micromodel.spec import FleetSpec
from microfleet.training.registry import promote, tracking
from microfleet.training.runs import run_training
from microfleet.training.service import generate_dataset

WAYS = ["base without RAG", "base with RAG", "fine-tuned without RAG", "fine-tuned with RAG"]


@pytest.mark.slow
def test_compare_gives_four_ways_a_chart_and_a_run(
    settings: Settings, tiny_fleet: FleetSpec, tmp_path: Path
) -> None:
    spec = tiny_fleet.get("rates")
    dataset = generate_dataset(settings, tiny_fleet, spec)
    run_training(settings, tiny_fleet, spec, epochs=1, max_steps=2)
    assert promote(tracking(settings), spec.registered_name(), force=True).promoted
    local = settings.model_copy(update={"fleet": tiny_fleet.root / "fleet.yaml"})
    chart = tmp_path / "compare.png"

    report = eval_compare(local, "rates", chart, 8, lambda label, total: lambda: None)
    assert report["n"] == len(dataset.test) and list(report["ways"]) == WAYS
    for row in report["ways"].values():
        assert 0.0 <= row["f1"] <= 1.0 and row["n"] == len(dataset.test)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    run_id = log_evaluation(local, tiny_fleet.name, "compare", report, [chart])
    client = tracking(local)
    assert {a.path for a in client.list_artifacts(run_id)} == {"compare.png", "eval-compare.json"}
    assert "ways.fine-tuned with RAG.f1" in client.get_run(run_id).data.metrics


def test_compare_without_an_adapter_says_what_to_do(
    settings: Settings, tiny_fleet: FleetSpec, tmp_path: Path
) -> None:
    from microfleet.errors import UserError

    generate_dataset(settings, tiny_fleet, tiny_fleet.get("rates"))
    local = settings.model_copy(update={"fleet": tiny_fleet.root / "fleet.yaml"})
    with pytest.raises(UserError, match="registered adapter"):
        eval_compare(local, "rates", tmp_path / "c.png", 8, lambda label, total: lambda: None)

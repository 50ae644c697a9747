"""The second reference fleet, built from data only (fleets/helpdesk/): its routing set, its
retrieval set, its trained micromodel, and fleet questions answered from its typed results.
Real models, a real Qdrant Edge shard and the adapter the repository ships."""

from __future__ import annotations

import asyncio
import csv
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from microfleet.config import Settings
from microfleet.evaluation.data import load_set, retrieval_row, routing_row
from microfleet.evaluation.retrieval import evaluate_retrieval
from microfleet.evaluation.routing import evaluate_router
from microfleet.features.ingest import load_context, run_ingest
from microfleet.features.sources import resolve_inputs
from microfleet.inference.runtime import Runtime, build_runtime
from microfleet.inference.turns import Turn
from microfleet.training.service import fleet_of, models_overview
from tests.conftest import REPO

DESK = REPO / "fleets" / "helpdesk"


@pytest.fixture(scope="module")
def desk_settings(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Settings:
    return Settings(
        home=tmp_path_factory.mktemp("helpdesk"),
        models_dir=models_dir,
        fleet=DESK / "fleet.yaml",
        cache=False,
    )


@pytest.fixture(scope="module")
def desk(desk_settings: Settings) -> Iterator[Runtime]:
    settings = desk_settings
    ctx = load_context(settings)
    corpus = os.path.relpath(DESK / "corpus")  # doc ids as the labelled set names them
    run_ingest(resolve_inputs([corpus]), settings, ctx)
    ctx.store.close()
    runtime = build_runtime(settings)
    yield runtime
    asyncio.run(runtime.close())


def _defaults() -> dict[str, str]:
    rows = csv.DictReader((DESK / "data" / "settings.csv").open())
    return {row["variable"]: row["default"] for row in rows}


def test_the_routing_set(desk: Runtime) -> None:
    orchestrator = desk.assistant.orchestrator
    assert orchestrator is not None
    rows = load_set(DESK / "routing.jsonl", routing_row).rows
    report = asyncio.run(evaluate_router(orchestrator.router, rows))
    assert report["n"] == len(rows) >= 20
    # 17/20 measured: three settings questions also call `docs` (within the router's margin).
    assert report["accuracy"] >= 0.85
    assert report["argument_accuracy"] == 1.0 and report["argument_questions"] >= 10


def test_the_retrieval_set(desk: Runtime) -> None:
    search = desk.assistant.search
    assert search is not None
    rows = load_set(DESK / "eval" / "retrieval.jsonl", retrieval_row).rows
    report = evaluate_retrieval(search, rows, k=3)
    assert report["missing_ids"] == 0 and report["n"] >= 15
    assert report["hybrid"]["hit@3"] >= 0.9


def test_the_settings_micromodel_is_trained_and_shipped(
    desk: Runtime, desk_settings: Settings
) -> None:
    """Its shipped adapter is registered as the champion, with its measured test metric."""
    overview = models_overview(desk_settings, fleet_of(desk_settings))
    [entry] = [e for e in overview if e["micromodel"] == "settings"]
    champion = [v for v in entry["versions"] if "champion" in v["aliases"]]
    assert champion and champion[0]["test_metric"] >= 0.95
    assert "settings" in desk.assistant.routes  # served on its adapter


def test_fleet_questions_are_answered_from_typed_results(desk: Runtime) -> None:
    defaults = _defaults()
    asked = ["MICROFLEET_DRAIN_SECONDS", "MICROFLEET_BODY_TIMEOUT_SECONDS", "MICROFLEET_RAG_K"]
    question = f"What are the defaults of {', '.join(asked[:-1])} and {asked[-1]}?"
    turn = Turn("fleet", [{"role": "user", "content": question}], 64, use_cache=False)
    prepared = asyncio.run(desk.assistant.prepare(turn))
    assert prepared.fleet_trace is not None
    calls = prepared.fleet_trace["calls"]
    assert sorted(c["arguments"]["variable"] for c in calls) == sorted(asked)
    for call in calls:  # every typed result is the table's value
        assert call["data"]["default"] == defaults[call["arguments"]["variable"]], call
    answer = prepared.fixed_answer or ""
    for name in asked:
        assert f"{name} defaults to {defaults[name]}" in answer

"""Constrained decoding: the local 135M model always emits schema-valid tool calls."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from microfleet.config import Settings
from microfleet.fleet.constrained import ConstrainedRouter
from microfleet.fleet.router import SemanticRouter, validate
from microfleet.knowledge.embedding import load_embedder
from microfleet.llm.local import BatchingEngine
from microfleet.micromodel.spec import FleetSpec, load_fleet
from tests.conftest import REPO

THRESHOLD = Settings.model_fields["router_threshold"].default


@pytest.fixture(scope="module")
def engine(models_dir: Path) -> Iterator[BatchingEngine]:
    from microfleet.llm.llamacpp import bundled_decoder

    built = BatchingEngine(*bundled_decoder(models_dir, {}))
    yield built
    built.close()


@pytest.fixture(scope="module")
def fleet() -> FleetSpec:
    return load_fleet(REPO / "fleets" / "finance" / "fleet.yaml")


def test_llm_router_calls_are_always_schema_valid(engine: BatchingEngine, fleet: FleetSpec) -> None:
    router = ConstrainedRouter(fleet, engine)
    for question in ("Which has the lower VAT rate, Germany or France?", "How do I budget?"):
        plan = asyncio.run(router.plan(question))
        assert plan.calls
        assert all(validate(fleet, c.name, c.arguments) is None for c in plan.calls)
        # nothing invalid is ever dropped; a list the model ran on with is cut, and says so
        assert all(d["error"].startswith("the call list was cut") for d in plan.dropped)


def test_hybrid_decodes_only_among_the_shortlist(engine: BatchingEngine, fleet: FleetSpec) -> None:
    semantic = SemanticRouter(fleet, load_embedder(None), threshold=THRESHOLD, margin=0.1)
    router = ConstrainedRouter(fleet, engine, shortlist=semantic)
    plan = asyncio.run(router.plan("What is the standard VAT rate in Malta?"))
    assert {c.name for c in plan.calls} == {"tax_rates"}
    assert all(d["error"].startswith("the call list was cut") for d in plan.dropped)
    assert all(validate(fleet, c.name, c.arguments) is None for c in plan.calls)
    assert asyncio.run(router.plan("Write a haiku about autumn.")).calls == []


def test_a_call_list_cut_at_the_token_limit_keeps_its_complete_calls() -> None:
    from microfleet.fleet.constrained import complete_calls

    cut = '{"calls": [{"name": "t", "arguments": {"country": "Malta"}}, {"name": "t", "argu'
    assert complete_calls(cut) == [{"name": "t", "arguments": {"country": "Malta"}}]
    assert complete_calls("garbage") == []

"""MLflow and the feedback store on a real PostgreSQL: the same tests as on SQLite, through an
`mlflow server` on PostgreSQL with proxied artifacts, and serving that loads its champions
from that server."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from microfleet.config import Settings
from microfleet.inference.runtime import build_runtime
from microfleet.inference.turns import Turn
from microfleet.training.registry import list_versions, tracking
from tests.feedback.test_store import test_ratings_are_stored_with_the_answer_they_rate
from tests.scale import engines
from tests.training.test_registry import test_promotion_gate_both_ways
from tests.training.test_shipped import test_shipped_adapters_register_once_and_export_back

# The SQLite tests, collected here again: `settings` tracks on the server (conftest.py), and
# `feedback_url` below is a PostgreSQL database.
__all__ = [
    "test_promotion_gate_both_ways",
    "test_ratings_are_stored_with_the_answer_they_rate",
    "test_shipped_adapters_register_once_and_export_back",
]


@pytest.fixture
def feedback_url(postgres_server: str) -> str:
    return engines.create_database(postgres_server, f"feedback_{uuid.uuid4().hex[:12]}")


def test_serving_loads_its_champions_from_the_server(settings: Settings) -> None:
    runtime = build_runtime(settings)  # registers the shipped adapters on the server first

    async def answer() -> str:
        turn = Turn(
            model="tax_rates",
            messages=[{"role": "user", "content": "What is the standard VAT rate in Germany?"}],
            max_tokens=24,
            rag=False,
            use_cache=False,
        )
        prepared = await runtime.assistant.prepare(turn)
        return "".join([d.text async for d in runtime.assistant.stream(prepared)])

    try:
        route = runtime.assistant.routes["tax_rates"]
        assert route.champion and route.version.startswith("v1")
        assert "19" in asyncio.run(answer())
    finally:
        asyncio.run(runtime.close())
    client = tracking(settings)
    assert client.tracking_uri == settings.mlflow_uri  # the server, not a local SQLite file
    [version] = list_versions(client, "micromodel-tax_rates")
    assert version["aliases"] == ["challenger", "champion"]

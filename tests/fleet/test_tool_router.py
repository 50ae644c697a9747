"""router=llm through an OpenAI-compatible server's native tool calling (our own server, which
decodes the calls with constraints): the orchestrator gets schema-valid calls over HTTP."""

from __future__ import annotations

import asyncio

import pytest

from microfleet.config import Settings
from microfleet.fleet.router import ToolCallingRouter, validate
from microfleet.inference.runtime import BASE_MODEL_NAME, build_runtime
from tests.conftest import KEY_A


def test_native_tool_calls_from_a_second_server(
    server: str, tmp_path_factory: pytest.TempPathFactory, models_dir: object
) -> None:
    settings = Settings(
        home=tmp_path_factory.mktemp("front-llm"),
        models_dir=models_dir,  # type: ignore[arg-type]
        llm_url=f"{server}/v1",
        llm_api_key=KEY_A,  # type: ignore[arg-type]
        llm_model=BASE_MODEL_NAME,
        router="llm",
        cache=False,
    )
    runtime = build_runtime(settings)
    try:
        orchestrator = runtime.assistant.orchestrator
        assert orchestrator is not None and isinstance(orchestrator.router, ToolCallingRouter)
        plan = asyncio.run(orchestrator.router.plan("What is the standard VAT rate in Malta?"))
        assert plan.calls and plan.dropped == []
        fleet = orchestrator.fleet
        assert all(validate(fleet, call.name, call.arguments) is None for call in plan.calls)
    finally:
        asyncio.run(runtime.close())

"""router=llm through an OpenAI-compatible server's native tool calling (our own server, which
decodes the calls with constraints): the orchestrator gets schema-valid calls over HTTP."""

from __future__ import annotations

import asyncio
import json

import pytest

from microfleet.config import Settings
from microfleet.fleet.orchestrator import MAX_ROUNDS, Orchestration
from microfleet.fleet.router import Plan, ToolCallingRouter, validate
from microfleet.inference.runtime import BASE_MODEL_NAME, build_runtime
from microfleet.llm.generator import Generation
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
    orchestrator = runtime.assistant.orchestrator
    assert orchestrator is not None and isinstance(orchestrator.router, ToolCallingRouter)
    question = "What is the standard VAT rate in Malta?"

    async def scenario() -> tuple[Plan, Orchestration, Generation]:
        assert orchestrator is not None
        try:
            plan = await orchestrator.router.plan(question)
            done = await orchestrator.run(question)
            messages = orchestrator.compose_messages(question, done, [])
            return plan, done, await orchestrator.fallback.generate(messages, 16, 0.0)
        finally:
            await runtime.close()

    plan, done, reply = asyncio.run(scenario())
    assert plan.calls and plan.dropped == []
    assert all(validate(orchestrator.fleet, c.name, c.arguments) is None for c in plan.calls)
    # The whole loop over HTTP: later rounds send the results back as `tool` messages, the
    # server takes them, and no call is made twice; then the answer is composed remotely.
    assert 1 <= done.rounds <= MAX_ROUNDS and done.results
    keys = [(r.call.name, json.dumps(r.call.arguments, sort_keys=True)) for r in done.results]
    assert len(keys) == len(set(keys))
    if done.rounds == MAX_ROUNDS and done.results[-1].round == MAX_ROUNDS:
        assert f"stopped after {MAX_ROUNDS} tool rounds" in done.notes
    assert reply.text.strip()

"""The orchestrator end to end over HTTP: model "fleet", with the real models and corpus."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import httpx
import openai

from microfleet.fleet.orchestrator import FLEET_MODEL, MAX_ROUNDS, Orchestrator
from microfleet.fleet.router import Plan, Router, admit
from microfleet.fleet.spec import FleetSpec
from microfleet.inference.runtime import Runtime
from microfleet.llm.generator import Messages, text_only
from microfleet.llm.openai_backend import OpenAIGenerator
from tests.conftest import KEY_A

EU27 = [
    "Austria", "Belgium", "Bulgaria", "Croatia", "Cyprus", "Czechia", "Denmark", "Estonia",
    "Finland", "France", "Germany", "Greece", "Hungary", "Ireland", "Italy", "Latvia",
    "Lithuania", "Luxembourg", "Malta", "Netherlands", "Poland", "Portugal", "Romania",
    "Slovakia", "Slovenia", "Spain", "Sweden",
]  # fmt: skip


def ask_fleet(server: str, question: str, **extra: Any) -> Any:
    client = openai.OpenAI(base_url=f"{server}/v1", api_key=KEY_A, max_retries=0, timeout=600)
    return client.chat.completions.create(
        model=FLEET_MODEL,
        messages=[{"role": "user", "content": question}],
        max_tokens=24,
        extra_headers={"Cache-Control": "no-cache"},
        **extra,
    )


def test_eu_question_fans_out_to_27_batched_calls(server: str, runtime: Runtime) -> None:
    engine = runtime.engine
    assert engine is not None
    largest = engine.stats.largest_batch
    reply = ask_fleet(server, "What are the VAT rates across the EU?")
    trace = (reply.model_extra or {})["trace"]
    calls = trace["calls"]
    assert [c["name"] for c in calls] == ["tax_rates"] * 27
    assert sorted(c["arguments"]["country"] for c in calls) == EU27
    assert all(c["output"] and c["error"] is None for c in calls)
    assert engine.stats.largest_batch >= max(largest, 8)  # the calls shared forward passes
    text = reply.choices[0].message.content or ""
    assert all(country in text for country in EU27)
    sources = (reply.model_extra or {})["sources"]
    assert sources and all("vat_rates_eu" in s["doc_id"] for s in sources)
    assert any("no adapter" in note for note in trace["notes"])  # base model stood in


def test_two_countries_call_exactly_two(server: str) -> None:
    reply = ask_fleet(server, "Which has the lower standard VAT rate, Germany or France?")
    calls = (reply.model_extra or {})["trace"]["calls"]
    assert sorted(c["arguments"]["country"] for c in calls) == ["France", "Germany"]


def test_streaming_carries_the_trace_on_the_final_chunk(server: str) -> None:
    stream = ask_fleet(server, "Is VAT higher in Sweden or in Denmark?", stream=True)
    finals = [c.model_extra for c in stream if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1
    trace = (finals[0] or {})["trace"]
    assert sorted(c["arguments"]["country"] for c in trace["calls"]) == ["Denmark", "Sweden"]


def test_a_failed_and_a_timed_out_call_are_missing_parts(server: str, runtime: Runtime) -> None:
    orchestrator = runtime.assistant.orchestrator
    assert orchestrator is not None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    orchestrator.generators["market_news"] = OpenAIGenerator(dead, None, "market_news")
    try:
        reply = ask_fleet(
            server, "What does the news say about oil, and what is the VAT rate in Spain?"
        )
    finally:
        del orchestrator.generators["market_news"]
    calls = {c["name"]: c for c in (reply.model_extra or {})["trace"]["calls"]}
    assert calls["tax_rates"]["output"] and calls["market_news"]["error"]
    assert "market_news" in (reply.choices[0].message.content or "")
    assert "missing" in (reply.choices[0].message.content or "")
    timeout = orchestrator.options.call_timeout_s
    orchestrator.options.call_timeout_s = 0.001
    try:
        reply = ask_fleet(server, "What is the standard VAT rate in Malta?")
    finally:
        orchestrator.options.call_timeout_s = timeout
    call = (reply.model_extra or {})["trace"]["calls"][0]
    assert call["output"] is None and call["error"].startswith("timed out")


def test_unfitting_question_is_answered_by_retrieval_alone(server: str) -> None:
    reply = ask_fleet(server, "Write a haiku about autumn.")
    trace = (reply.model_extra or {})["trace"]
    assert trace["calls"] == []
    assert any("retrieval alone" in note for note in trace["notes"])


def test_readyz_names_micromodels_without_adapters(server: str) -> None:
    body = httpx.get(f"{server}/readyz").json()
    assert body["status"] == "ready" and "fleet" in body["models"]
    assert len(body["warnings"]) == 3 and "tax_rates" in json.dumps(body["warnings"])


class ScriptedRouter(Router):
    """Plays a tool-calling model's rounds from a script, and records the transcript it was
    shown: the orchestrator's round logic under test, with the real micromodels answering."""

    name = "scripted"
    takes_feedback = follows_up = True

    def __init__(self, fleet: FleetSpec, script: list[list[tuple[str, Any]]]) -> None:
        self.fleet, self.script = fleet, script
        self.shown: list[Messages] = []

    async def plan(self, question: str, transcript: Messages | None = None) -> Plan:
        self.shown.append(list(transcript or []))
        plan = Plan()
        step = self.script[len(self.shown) - 1] if len(self.shown) <= len(self.script) else []
        for name, arguments in step:
            admit(plan, self.fleet, name, arguments)
        return plan


def scripted(runtime: Runtime, script: list[list[tuple[str, Any]]]) -> Orchestrator:
    real = runtime.assistant.orchestrator
    assert real is not None
    router = ScriptedRouter(real.fleet, script)
    return Orchestrator(
        real.fleet, router, real.generators, real.fallback, real.search, real.options
    )


def test_an_invalid_call_is_fed_back_once_then_corrected(runtime: Runtime) -> None:
    orchestrator = scripted(
        runtime, [[("tax_rates", {"country": "Atlantis"})], [("tax_rates", {"country": "Malta"})]]
    )
    done = asyncio.run(orchestrator.run("What is the VAT rate in Malta?"))
    assert [(r.call.arguments, r.round) for r in done.results] == [({"country": "Malta"}, 2)]
    assert [d["fed_back"] for d in done.plan.dropped] == [True]
    shown = orchestrator.router.shown[1]  # type: ignore[attr-defined]
    assert shown[0]["tool_calls"][0]["function"]["name"] == "tax_rates"
    assert shown[1]["role"] == "tool" and "invalid call" in shown[1]["content"]
    assert shown[1]["tool_call_id"] == shown[0]["tool_calls"][0]["id"]


def test_an_invalid_call_repeated_is_dropped_without_more_feedback(runtime: Runtime) -> None:
    bad = ("tax_rates", {"country": "Atlantis"})
    orchestrator = scripted(runtime, [[bad], [bad], [bad]])
    done = asyncio.run(orchestrator.run("What is the VAT rate in Atlantis?"))
    assert done.results == [] and done.rounds == 2
    assert [d["fed_back"] for d in done.plan.dropped] == [True, False]
    assert any("fed back" in note for note in done.notes)


def test_a_tool_loop_that_never_ends_is_capped(runtime: Runtime) -> None:
    countries = ["Malta", "Spain", "France", "Italy", "Greece"]
    orchestrator = scripted(runtime, [[("tax_rates", {"country": c})] for c in countries])
    done = asyncio.run(orchestrator.run("Keep asking about VAT."))
    assert done.rounds == MAX_ROUNDS == 3
    assert [r.call.arguments["country"] for r in done.results] == countries[:3]
    assert f"stopped after {MAX_ROUNDS} tool rounds" in done.notes
    # Round 3 saw the results of rounds 1 and 2 as tool messages.
    shown = orchestrator.router.shown[2]  # type: ignore[attr-defined]
    assert [m["role"] for m in shown] == ["assistant", "tool", "assistant", "tool"]


def test_the_composer_gets_the_results_as_tool_messages(runtime: Runtime) -> None:
    orchestrator = scripted(runtime, [[("tax_rates", {"country": "Malta"})], []])
    done = asyncio.run(orchestrator.run("What is the VAT rate in Malta?"))
    messages = orchestrator.compose_messages("What is the VAT rate in Malta?", done, [])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    call = messages[2]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"country": "Malta"}
    assert messages[3]["tool_call_id"] == call["id"]
    assert messages[3]["content"] == done.results[0].content()
    # The local model's chat template has no tool role: the results fold into the question.
    folded = text_only(messages)
    assert [m["role"] for m in folded] == ["system", "user"]
    assert folded[1]["content"].startswith("Tool results:\n- tax_rates(country=Malta): ")
    assert folded[1]["content"].endswith("Question: What is the VAT rate in Malta?")


def test_a_call_repeated_within_a_round_runs_once(runtime: Runtime) -> None:
    malta = ("tax_rates", {"country": "Malta"})
    orchestrator = scripted(runtime, [[malta, malta], [malta]])
    done = asyncio.run(orchestrator.run("What is the VAT rate in Malta?"))
    assert [r.call.arguments for r in done.results] == [{"country": "Malta"}]
    assert done.rounds == 2  # round 2 asked again, got nothing new, and the loop ended

"""The orchestrator end to end over HTTP: model "fleet", with the real models and corpus."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import openai

from microfleet.fleet.orchestrator import FLEET_MODEL
from microfleet.inference.runtime import Runtime
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

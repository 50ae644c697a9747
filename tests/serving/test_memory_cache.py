"""Memory across turns and a restart, the answer cache tiers and scopes, tracing, /v1/ingest."""

from __future__ import annotations

import json
from typing import Any

import httpx

from microfleet.config import Settings
from microfleet.inference.memory import SQLiteMemory
from microfleet.inference.runtime import BASE_MODEL_NAME, Runtime
from microfleet.serving.tenancy import tenant_of
from tests.conftest import KEY_A, KEY_B


def ask(server: str, text: str, key: str = KEY_A, **extra: Any) -> dict[str, Any]:
    headers = {"X-API-Key": key, **extra.pop("headers", {})}
    body = {"model": BASE_MODEL_NAME, "messages": [{"role": "user", "content": text}], **extra}
    response = httpx.post(f"{server}/v1/chat/completions", json=body, headers=headers, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def answer(reply: dict[str, Any]) -> str:
    return str(reply["choices"][0]["message"]["content"])


def test_memory_across_turns_and_a_restart(
    server: str, runtime: Runtime, served_settings: Settings
) -> None:
    session = {"headers": {"X-Session-Id": "memory-test"}, "rag": False, "max_tokens": 16}
    ask(server, "The secret word is banana.", **session)
    assert "banana" in answer(ask(server, "What is the secret word?", **session))
    # a restart: the store is reopened from disk
    runtime.assistant.memory.close()
    runtime.assistant.memory = SQLiteMemory(served_settings.memory_path)
    stored = runtime.assistant.memory.load(f"{tenant_of(KEY_A)}:memory-test")
    assert [m["role"] for m in stored] == ["user", "assistant", "user", "assistant"]
    assert "banana" in answer(ask(server, "What is the secret word?", **session))
    other = {"headers": {"X-Session-Id": "someone-else"}, "rag": False, "max_tokens": 16}
    assert "banana" not in answer(ask(server, "What is the secret word?", **other))


def test_cache_tiers_scopes_and_bypass(server: str, runtime: Runtime) -> None:
    question = "What is the standard VAT rate in Hungary?"
    first = ask(server, question, max_tokens=12)
    assert first["cached"] is None
    again = ask(server, "what is the standard VAT rate in hungary", max_tokens=12)
    assert again["cached"] == "exact" and answer(again) == answer(first)
    paraphrase = ask(server, "Tell me the standard VAT rate of Hungary", max_tokens=12)
    assert paraphrase["cached"] == "semantic" and answer(paraphrase) == answer(first)
    assert ask(server, question, key=KEY_B, max_tokens=12)["cached"] is None  # other tenant
    assert ask(server, question, max_tokens=11)["cached"] is None  # other parameters
    no_cache = {"headers": {"Cache-Control": "no-cache"}, "max_tokens": 12}
    assert ask(server, question, **no_cache)["cached"] is None
    assert ask(server, question, temperature=0.7, max_tokens=12)["cached"] is None
    stats = runtime.assistant.cache.stats  # type: ignore[union-attr]
    assert stats.exact_hits >= 1 and stats.semantic_hits >= 1 and stats.bypassed >= 2
    metrics = httpx.get(f"{server}/metrics", headers={"X-API-Key": KEY_A}).text
    assert 'microfleet_cache_lookups_total{result="semantic_hits"}' in metrics


def test_the_system_prompt_is_part_of_the_cache_key(server: str) -> None:
    def asked(system: str) -> dict[str, Any]:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": "Hi there"}]
        body = {"model": BASE_MODEL_NAME, "messages": messages, "max_tokens": 6, "rag": False}
        reply = httpx.post(
            f"{server}/v1/chat/completions", json=body, headers={"X-API-Key": KEY_A}, timeout=120
        )
        return reply.json()  # type: ignore[no-any-return]

    assert asked("Reply only with the single word BANANA.")["cached"] is None
    assert asked("Answer in German.")["cached"] is None
    assert asked("Reply only with the single word BANANA.")["cached"] == "exact"


def test_negated_question_never_hits_the_cache(server: str) -> None:
    ask(server, "Is the reduced VAT rate allowed on e-books in the EU?", max_tokens=8)
    flipped = ask(server, "Is the reduced VAT rate not allowed on e-books in the EU?", max_tokens=8)
    assert flipped["cached"] is None


def test_ingest_route_feeds_the_pipeline_and_keeps_failures(
    server: str, served_settings: Settings
) -> None:
    docs = [
        {
            "id": "route-doc",
            "title": "Zorblax Mining doubles lithium output",
            "text": "Zorblax Mining said lithium output doubled in the third quarter.",
        },
        {"title": "no id here", "text": "This document has no id."},
    ]
    jsonl = "\n".join(json.dumps(d) for d in docs) + "\nnot json at all\n"
    key = {"X-API-Key": KEY_A}
    headers = {**key, "Content-Type": "application/x-ndjson"}
    result = httpx.post(f"{server}/v1/ingest", content=jsonl, headers=headers, timeout=60).json()
    assert (result["documents"], result["failed"]) == (1, 2)
    assert [e["ref"] for e in result["errors"]] == ["line 2", "line 3"]
    assert all("\n" not in e["reason"] for e in result["errors"])
    dead = served_settings.dead_letter_path.read_text().splitlines()
    assert any(json.loads(line)["ref"] == "line 3" for line in dead)
    hits = httpx.post(
        f"{server}/v1/search", json={"query": "Zorblax lithium", "k": 1}, headers=key
    ).json()["data"]
    assert hits[0]["doc_id"] == "route-doc"
    again = httpx.post(f"{server}/v1/ingest", json={"documents": docs[:1]}, headers=key)
    assert again.json()["unchanged"] == 1
    empty = httpx.post(f"{server}/v1/ingest", json={"documents": []}, headers=key)
    assert empty.status_code == 400 and "documents" in empty.json()["error"]["message"]


def test_tracing_records_hits_prompt_and_tokens(
    server: str, runtime: Runtime, served_settings: Settings
) -> None:
    import mlflow

    from microfleet.inference.tracing import MlflowTracer, Tracer

    runtime.assistant.tracer = MlflowTracer(served_settings)
    try:
        question = "Why did Brent crude rise? Reply to jo.doe@example.com"
        ask(server, question, max_tokens=8, headers={"Cache-Control": "no-cache"})
    finally:
        tracer, runtime.assistant.tracer = runtime.assistant.tracer, Tracer()
    mlflow.flush_trace_async_logging()
    traces = mlflow.search_traces(
        locations=[str(tracer.experiment_id)],  # type: ignore[attr-defined]
        return_type="list",
    )
    spans = {span.name: span for span in traces[0].data.spans}
    assert spans["chat"].inputs["question"] == "Why did Brent crude rise? Reply to <EMAIL_ADDRESS>"
    assert "jo.doe" not in json.dumps(spans["generate"].inputs)  # redacted in every span
    assert set(spans) == {"chat", "retrieve", "generate"}
    assert spans["retrieve"].outputs["hits"][0]["doc_id"]
    assert spans["generate"].inputs["messages"][-1]["content"].startswith("Context:")
    assert 0 < spans["generate"].outputs["completion_tokens"] <= 8

"""16 concurrent SSE streams, and a client that disconnects mid-stream."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx

from microfleet.config import Settings
from microfleet.inference.runtime import BASE_MODEL_NAME, Runtime
from tests.conftest import KEY_A, variant_server

HEADERS = {"X-API-Key": KEY_A, "Cache-Control": "no-cache"}


def _body(text: str, max_tokens: int) -> dict[str, object]:
    return {
        "model": BASE_MODEL_NAME,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": max_tokens,
        "stream": True,
        "rag": False,
    }


async def _stream(client: httpx.AsyncClient, url: str, n: int) -> list[str]:
    body = _body(f"Write one sentence about the number {n}.", 12)
    async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        return [line async for line in response.aiter_lines() if line.startswith("data: ")]


def test_sixteen_concurrent_streams_complete(server: str, runtime: Runtime) -> None:
    async def run() -> list[list[str]]:
        async with httpx.AsyncClient(headers=HEADERS, timeout=300) as client:
            return await asyncio.gather(*[_stream(client, server, n) for n in range(16)])

    before = runtime.engine.stats.requests  # type: ignore[union-attr]
    streams = asyncio.run(run())
    assert all(lines[-1] == "data: [DONE]" for lines in streams)
    assert all(not any('"error"' in line for line in lines) for lines in streams)
    assert all(len(lines) > 4 for lines in streams)
    engine = runtime.engine
    assert engine is not None and engine.stats.requests - before == 16
    assert engine.stats.largest_batch > 1  # they were batched, not run one by one


def test_disconnect_cancels_the_generation(server: str, runtime: Runtime) -> None:
    engine = runtime.engine
    assert engine is not None
    cancelled, tokens = engine.stats.cancelled, engine.stats.tokens
    body = _body("Tell me a very long story about the sea.", 48)
    with httpx.stream(
        "POST", f"{server}/v1/chat/completions", json=body, headers=HEADERS, timeout=60
    ) as response:
        content = 0
        for line in response.iter_lines():
            content += '"content"' in line
            if content >= 3:
                break  # leave mid-stream
    deadline = time.monotonic() + 20
    while engine.stats.cancelled == cancelled and time.monotonic() < deadline:
        time.sleep(0.1)
    assert engine.stats.cancelled == cancelled + 1
    assert engine.stats.tokens - tokens < 48


def test_a_non_streaming_client_that_leaves_cancels_its_generation(
    runtime: Runtime, served_settings: Settings
) -> None:
    """A cap of 1024 tokens: far more than the engine makes before the client leaves."""
    engine = runtime.engine
    assert engine is not None
    cancelled, tokens = engine.stats.cancelled, engine.stats.tokens
    body = {**_body("Write a long essay about the history of the Alps.", 1024), "stream": False}
    with variant_server(runtime, served_settings, max_tokens_cap=1024) as url:
        # the client gives up long before 1024 tokens are ready, and closes the connection
        with contextlib.suppress(httpx.ReadTimeout):
            httpx.post(
                f"{url}/v1/chat/completions",
                json=body,
                headers=HEADERS,
                timeout=httpx.Timeout(60, read=0.8),
            )
        deadline = time.monotonic() + 20
        while engine.stats.cancelled == cancelled and time.monotonic() < deadline:
            time.sleep(0.1)
    assert engine.stats.cancelled == cancelled + 1
    assert engine.stats.tokens - tokens < 1024


def test_max_tokens_is_capped_to_what_the_timeout_allows(server: str, runtime: Runtime) -> None:
    """At a measured 0.1 tokens/s a 120 s timeout allows ~10 tokens: the cap falls to its
    floor of 16, whatever the request asks for (the server's cap here is 48)."""
    engine = runtime.engine
    assert engine is not None
    measured = engine.stats.stream_tokens_per_s
    engine.stats.stream_tokens_per_s = 0.1
    try:
        body = {**_body("Tell me a very long story about the desert.", 48), "stream": False}
        reply = httpx.post(
            f"{server}/v1/chat/completions", json=body, headers=HEADERS, timeout=120
        ).json()
    finally:
        engine.stats.stream_tokens_per_s = measured
    assert reply["usage"]["completion_tokens"] <= 16
    assert reply["choices"][0]["finish_reason"] == "length"

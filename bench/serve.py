"""Serving benchmarks (not tests). Every figure is measured side by side in one run, on the same
GGUF, through a real uvicorn server on 127.0.0.1.

1. time to first SSE token / the bare decoder's first-token time       (goal <= 1.2)
2. streamed tokens/s / the bare decoder's tokens/s                     (goal >= 0.95)
3. cache hit p50 / miss p50 (exact and semantic tiers)                 (goal <= 0.05)
4. 8 concurrent requests (batched) against the same 8 one after another: throughput ratio
5. a plain request sent while a client's `tools` request decodes / the same request alone
   (goal <= 1.5: tool calls decode as rows of the engine's batches, so no one waits behind them)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import httpx

from microfleet.config import Settings
from microfleet.features.ingest import load_context, run_ingest
from microfleet.features.sources import resolve_inputs

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from report import print_report  # noqa: E402

CORPUS = REPO / "fleets" / "finance" / "corpus"
PROMPT = "Write a short paragraph about the history of the euro."
NO_CACHE = {"Cache-Control": "no-cache"}
CLIENT = httpx.Client()  # one client, kept alive, as a real caller would


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def bare(decoder: Any, tokenizer: Any, tokens: int) -> tuple[float, float, int]:
    """(first-token s, total s, new tokens) of the default decoder (llama.cpp) on its own,
    without the engine or the server, on the messages the server uses."""
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": PROMPT},
    ]
    start, made, first = time.perf_counter(), [], [0.0]

    def on_token(_row: int, token: int) -> bool:
        first[0] = first[0] or time.perf_counter()
        if token in decoder.eos:
            return True
        made.append(token)
        return len(made) >= tokens

    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    decoder.decode([tokenizer(text, add_special_tokens=False)["input_ids"]], on_token)
    return first[0] - start, time.perf_counter() - start, len(made)


def streamed(url: str, tokens: int) -> tuple[float, float, int]:
    """(first content frame s, total s, completion tokens) of one SSE request."""
    body = {
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": tokens,
        "stream": True,
        "rag": False,
        "stream_options": {"include_usage": True},
    }
    start, first, used = time.perf_counter(), 0.0, 0
    with CLIENT.stream(
        "POST", f"{url}/v1/chat/completions", json=body, headers=NO_CACHE, timeout=300
    ) as response:
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            frame = json.loads(line[6:])
            if not first and any(c["delta"].get("content") for c in frame["choices"]):
                first = time.perf_counter()
            if frame.get("usage"):
                used = frame["usage"]["completion_tokens"]
    return first - start, time.perf_counter() - start, used


def bench_stream(model: Any, url: str, rounds: int, tokens: int) -> dict[str, float]:
    bare_first, bare_rate, sse_first, sse_rate = [], [], [], []
    streamed(url, 4)  # warm up both paths
    bare(*model, 4)
    for _ in range(rounds):
        first, total, n = bare(*model, tokens)
        bare_first.append(first)
        bare_rate.append(n / total)
        first, total, n = streamed(url, tokens)
        sse_first.append(first)
        sse_rate.append(n / total)
    b_first, s_first = statistics.median(bare_first), statistics.median(sse_first)
    b_rate, s_rate = statistics.median(bare_rate), statistics.median(sse_rate)
    return {
        "bare_first_token_ms": b_first * 1000,
        "sse_first_token_ms": s_first * 1000,
        "ttft_ratio (goal <= 1.2)": s_first / b_first,
        "bare_tokens_per_s": b_rate,
        "sse_tokens_per_s": s_rate,
        "tokens_per_s_ratio (goal >= 0.95)": s_rate / b_rate,
    }


def _ask(url: str, text: str, tokens: int = 32) -> float:
    body = {
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "user", "content": text}],
        "max_tokens": tokens,
    }
    start = time.perf_counter()
    response = CLIENT.post(f"{url}/v1/chat/completions", json=body, timeout=300)
    response.raise_for_status()
    return time.perf_counter() - start


def bench_cache(url: str) -> dict[str, float]:
    countries = [
        "Hungary",
        "Denmark",
        "Malta",
        "Luxembourg",
        "Ireland",
        "Finland",
        "Spain",
        "Italy",
        "Poland",
        "Greece",
    ]
    misses = [_ask(url, f"What is the standard VAT rate in {c}?") for c in countries]
    exact = [_ask(url, f"what is the standard vat rate in {c}") for c in countries]
    semantic = [_ask(url, f"Tell me the standard VAT rate of {c}") for c in countries]
    miss, hit, near = (statistics.median(x) for x in (misses, exact, semantic))
    return {
        "miss_p50_ms": miss * 1000,
        "exact_hit_p50_ms": hit * 1000,
        "semantic_hit_p50_ms": near * 1000,
        "exact_hit_over_miss (goal <= 0.05)": hit / miss,
        "semantic_hit_over_miss (goal <= 0.05)": near / miss,
    }


async def _together(url: str, n: int, tokens: int) -> None:
    body = {"model": "smollm2-135m-instruct", "max_tokens": tokens, "rag": False}
    async with httpx.AsyncClient(timeout=600, headers=NO_CACHE) as client:
        await asyncio.gather(
            *[
                client.post(
                    f"{url}/v1/chat/completions",
                    json={
                        **body,
                        "messages": [{"role": "user", "content": f"Tell me a fact about {i}."}],
                    },
                )
                for i in range(n)
            ]
        )


def bench_batching(url: str, n: int, tokens: int) -> dict[str, float]:
    start = time.perf_counter()
    for i in range(n):
        body = {
            "model": "smollm2-135m-instruct",
            "max_tokens": tokens,
            "rag": False,
            "messages": [{"role": "user", "content": f"Tell me a fact about {i}."}],
        }
        CLIENT.post(f"{url}/v1/chat/completions", json=body, headers=NO_CACHE, timeout=600)
    sequential = time.perf_counter() - start
    start = time.perf_counter()
    asyncio.run(_together(url, n, tokens))
    concurrent = time.perf_counter() - start
    return {
        "sequential_s": sequential,
        "concurrent_s": concurrent,
        "throughput_ratio (concurrent / sequential)": sequential / concurrent,
    }


def weather_tool(details: bool) -> dict[str, Any]:
    """A weather tool; with `details`, each call also writes a free-text string (a long call)."""
    properties: dict[str, Any] = {"city": {"type": "string"}}
    if details:
        properties["details"] = {"type": "string"}
    return {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city.",
            "parameters": {"type": "object", "properties": properties, "required": [*properties]},
        },
    }


TOOL_ASKS = {  # a typical call, and three calls that each write free text
    "short": ("What is the weather in Paris?", weather_tool(False)),
    "long": ("What is the weather in Paris, London and Rome?", weather_tool(True)),
}


def _plain(tokens: int) -> dict[str, Any]:
    return {
        "model": "smollm2-135m-instruct",
        "max_tokens": tokens,
        "rag": False,
        "messages": [{"role": "user", "content": PROMPT}],
    }


async def _during_tools(url: str, tokens: int, kind: str) -> tuple[float, float]:
    """(the plain request's seconds, the tools request's seconds), the plain one sent while
    the tools one decodes."""
    question, tool = TOOL_ASKS[kind]
    tools = {
        "model": "smollm2-135m-instruct",
        "tools": [tool],
        "messages": [{"role": "user", "content": question}],
    }
    async with httpx.AsyncClient(timeout=600, headers=NO_CACHE) as client:

        async def timed(body: dict[str, Any], delay: float) -> float:
            await asyncio.sleep(delay)
            start = time.perf_counter()
            (await client.post(f"{url}/v1/chat/completions", json=body)).raise_for_status()
            return time.perf_counter() - start

        tool_s, plain_s = await asyncio.gather(timed(tools, 0), timed(_plain(tokens), 0.05))
    return plain_s, tool_s


def bench_during_tools(url: str, rounds: int, tokens: int) -> dict[str, float]:
    alone: list[float] = []
    loaded: dict[str, list[float]] = {kind: [] for kind in TOOL_ASKS}
    tools: dict[str, list[float]] = {kind: [] for kind in TOOL_ASKS}
    for _ in range(rounds):  # alternating
        start = time.perf_counter()
        CLIENT.post(f"{url}/v1/chat/completions", json=_plain(tokens), headers=NO_CACHE)
        alone.append(time.perf_counter() - start)
        for kind in TOOL_ASKS:
            plain_s, tool_s = asyncio.run(_during_tools(url, tokens, kind))
            loaded[kind].append(plain_s)
            tools[kind].append(tool_s)
    one = statistics.median(alone)
    report = {"plain_alone_s": one}
    for kind in TOOL_ASKS:
        both = statistics.median(loaded[kind])
        report[f"{kind}_tools_request_s"] = statistics.median(tools[kind])
        report[f"plain_during_{kind}_tools_s"] = both
        report[f"during_{kind}_over_alone (goal <= 1.5)"] = both / one
    return report


@contextmanager
def server_process(settings: Settings) -> Iterator[str]:
    """`microfleet serve` in its own process, as clients meet it (not sharing our GIL)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "MICROFLEET_HOME": str(settings.home),
        "MICROFLEET_PORT": str(port),
        "MICROFLEET_MODELS_DIR": str(settings.model_cache_dir),
        "MICROFLEET_RATE_LIMIT": "1000000/minute",
    }
    process = subprocess.Popen([sys.executable, "-m", "microfleet.cli", "serve"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="Alternating rounds for 1 and 2.")
    parser.add_argument("--tokens", type=int, default=96, help="Tokens per generation.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args()
    from microfleet.llm.engines import local_decoder

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "home", models_dir=REPO / ".microfleet" / "models")
        log("ingesting the sample corpus ...")
        ctx = load_context(settings)
        run_ingest(resolve_inputs([str(CORPUS)]), settings, ctx)
        ctx.store.close()
        model = local_decoder(settings, {}, rows=1)  # the served engine, threads included
        report: dict[str, dict[str, float]] = {}
        with server_process(settings) as url:
            log("streaming vs the bare decoder ...")
            report["streaming"] = bench_stream(model, url, args.rounds, args.tokens)
            log("cache hits vs misses ...")
            report["cache"] = bench_cache(url)
            log("8 concurrent vs sequential ...")
            report["batching"] = bench_batching(url, 8, 64)
            log("a plain request during a tools request ...")
            report["during_tools"] = bench_during_tools(url, args.rounds, args.tokens)
    print_report(report, args.json)


if __name__ == "__main__":
    main()

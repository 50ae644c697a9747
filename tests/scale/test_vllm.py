"""The fleet on vLLM (its CPU build): the champions exported by `microfleet adapters export`
are served by name, and `microfleet serve` with MICROFLEET_LLM_URL answers plain chat, a
micromodel by name and `model: fleet`, with the local engine's facts; `promote` loads a new
champion into the running vLLM."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from microfleet.config import Settings
from microfleet.features.ingest import load_context, run_ingest
from microfleet.features.sources import resolve_inputs
from microfleet.inference.runtime import BASE_MODEL_NAME, Runtime, build_runtime
from microfleet.inference.turns import Turn
from microfleet.llm.base_model import smollm2_dir
from microfleet.serving.app import create_app
from tests.conftest import CORPUS, REPO, running_server
from tests.scale import engines

EU_QUESTION = "What are the VAT rates across the EU, and which country has the lowest?"
RATES = {
    row["country"]: float(row["rate"])
    for row in csv.DictReader((REPO / "fleets/finance/data/vat_rates.csv").open())
}


@pytest.fixture(scope="module")
def vllm_url(
    models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """vLLM serving the base model and the champions `adapters export` wrote (from a fresh
    data dir: the shipped adapters); yields (its URL, that data dir)."""
    home = tmp_path_factory.mktemp("vllm-home")
    exported = tmp_path_factory.mktemp("exported")
    env = {"MICROFLEET_HOME": str(home), "MICROFLEET_MODELS_DIR": str(models_dir)}
    command = [sys.executable, "-m", "microfleet.cli", "adapters", "export", str(exported)]
    subprocess.run(command, env={**_environ(), **env}, check=True, capture_output=True)
    adapters = {p.name: p for p in exported.iterdir() if (p / "adapter_config.json").exists()}
    assert "tax_rates" in adapters
    model = smollm2_dir(models_dir)
    log = tmp_path_factory.mktemp("vllm-log") / "vllm.log"
    with engines.vllm(model, BASE_MODEL_NAME, adapters, log) as url:
        yield url, home


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def _eu_rates(runtime: Runtime) -> tuple[dict[str, Any], float, int]:
    """The 27 rates, the wall time, and the tokens the 27 calls wrote."""

    async def ask() -> dict[str, Any]:
        turn = Turn(
            model="fleet",
            messages=[{"role": "user", "content": EU_QUESTION}],
            max_tokens=64,
            use_cache=False,
        )
        prepared = await runtime.assistant.prepare(turn)
        _ = [d async for d in runtime.assistant.stream(prepared)]
        return prepared.fleet_trace or {}

    start = time.perf_counter()
    trace = asyncio.run(ask())
    seconds = time.perf_counter() - start
    rates = {c["arguments"]["country"]: (c.get("data") or {}).get("rate") for c in trace["calls"]}
    count = runtime.assistant.count_tokens
    return rates, seconds, sum(count(c.get("output") or "") for c in trace["calls"])


def test_serve_on_vllm_answers_plain_by_name_and_fleet(
    vllm_url: tuple[str, Path], runtime: Runtime, models_dir: Path, tmp_path: Path
) -> None:
    url, _ = vllm_url
    remote_settings = Settings(
        home=tmp_path / "remote",
        models_dir=models_dir,
        api_keys="key-a",  # type: ignore[arg-type]
        llm_url=url,
        llm_model=BASE_MODEL_NAME,
    )
    context = load_context(remote_settings)  # the knowledge base the local runtime has
    run_ingest(resolve_inputs([str(CORPUS)]), remote_settings, context)
    context.store.close()
    remote = build_runtime(remote_settings)
    try:
        assert remote.assistant.routes["tax_rates"].champion
        assert not remote.assistant.routes["market_news"].champion  # no adapter on vLLM
        app = create_app(remote, remote_settings, owns_runtime=False)
        with running_server(app) as server:
            client = openai.OpenAI(base_url=f"{server}/v1", api_key="key-a", max_retries=0)

            def say(model: str, text: str) -> str:
                reply = client.chat.completions.create(
                    model=model,
                    messages=[{"role": "user", "content": text}],
                    max_tokens=32,
                    extra_body={"rag": False},
                    extra_headers={"Cache-Control": "no-cache"},
                )
                return reply.choices[0].message.content or ""

            assert "Paris" in say(BASE_MODEL_NAME, "What is the capital of France?")
            assert "19" in say("tax_rates", "What is the standard VAT rate in Germany?")
        on_vllm, vllm_cold, _ = _eu_rates(remote)
        _, vllm_s, vllm_tokens = _eu_rates(remote)  # warm: schemas compiled, adapters paged in
    finally:
        asyncio.run(remote.close())
    local, local_cold, _ = _eu_rates(runtime)
    _, local_s, local_tokens = _eu_rates(runtime)
    print(
        f"\nthe EU question, first and second run: vLLM {vllm_cold:.1f} s, {vllm_s:.1f} s "
        f"({vllm_tokens / vllm_s:.0f} call tokens/s warm); local engine {local_cold:.1f} s, "
        f"{local_s:.1f} s ({local_tokens / local_s:.0f} call tokens/s warm)"
    )
    assert on_vllm == local  # the same facts, call for call
    assert sum(on_vllm[c] == RATES[c] for c in RATES) == 27


def test_promote_loads_the_new_champion_into_vllm(
    vllm_url: tuple[str, Path], models_dir: Path
) -> None:
    import mlflow

    from microfleet.training.registry import (
        download_adapter,
        experiment_id,
        register_version,
        tracking,
    )

    url, home = vllm_url
    settings = Settings(home=home, models_dir=models_dir)
    client = tracking(settings)
    name = "micromodel-tax_rates"
    adapter = download_adapter(settings, name)  # v1, the shipped champion
    with mlflow.start_run(experiment_id=experiment_id(client, settings, "promote-test")) as run:
        mlflow.log_artifacts(str(adapter), artifact_path="adapter")
    register_version(
        client, name, run.info.run_id, f"{run.info.artifact_uri}/adapter",
        {"test_metric": 0.99, "base_metric": 0.1},
    )  # fmt: skip
    env = {
        **_environ(),
        "MICROFLEET_HOME": str(home),
        "MICROFLEET_MODELS_DIR": str(models_dir),
        "MICROFLEET_LLM_URL": url,
    }
    command = [sys.executable, "-m", "microfleet.cli", "promote", "tax_rates"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert "champion is now v2" in done.stdout and "now serves tax_rates v2" in done.stdout
    served = {m["id"]: m for m in httpx.get(f"{url}/models").json()["data"]}
    assert served["tax_rates"]["root"].endswith("tax_rates-v2")
    reply = httpx.post(
        f"{url}/chat/completions",
        json={
            "model": "tax_rates",
            "messages": [{"role": "user", "content": "What is the standard VAT rate in France?"}],
            "max_tokens": 24,
            "temperature": 0,
        },
        timeout=120,
    )
    assert "20" in json.dumps(reply.json()["choices"][0]["message"]["content"])

"""One real runtime (models, the corpus in an Edge shard, memory, cache) for the serving tests,
served by real uvicorn servers on 127.0.0.1. Apps with other limits share the same runtime.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from microfleet.config import Settings
from microfleet.inference.runtime import Runtime, build_runtime
from microfleet.serving.app import create_app
from tests.conftest import CORPUS, running_server

KEY_A, KEY_B = "key-a", "key-b"


@pytest.fixture(scope="session")
def served_settings(tmp_path_factory: pytest.TempPathFactory, models_dir: object) -> Settings:
    return Settings(
        home=tmp_path_factory.mktemp("served"),
        models_dir=models_dir,  # type: ignore[arg-type]
        api_keys=f"{KEY_A},{KEY_B}",  # type: ignore[arg-type]
        rate_limit="100000/minute",
        max_tokens_cap=48,
        request_timeout_seconds=120,
    )


@pytest.fixture(scope="session")
def runtime(served_settings: Settings) -> Iterator[Runtime]:
    from microfleet.features.ingest import load_context, run_ingest
    from microfleet.features.sources import resolve_inputs

    ctx = load_context(served_settings)
    run_ingest(resolve_inputs([str(CORPUS)]), served_settings, ctx)
    ctx.store.close()
    built = build_runtime(served_settings, with_micromodels=False)
    yield built
    asyncio.run(built.close())


@pytest.fixture(scope="session")
def server(runtime: Runtime, served_settings: Settings) -> Iterator[str]:
    with running_server(create_app(runtime, served_settings, owns_runtime=False)) as url:
        yield url


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY_A}"}

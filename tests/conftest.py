"""Shared fixtures: real models (loaded once per session), a fresh data dir per test."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

from microfleet.config import Settings
from microfleet.features.ingest import load_context
from microfleet.features.pipeline import PipelineContext
from microfleet.inference.runtime import Runtime, build_runtime
from microfleet.serving.app import create_app

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "fleets" / "finance" / "corpus"
# tests/scale starts real scale-out engines (PostgreSQL, MLflow's server, Redis): it runs under
# `make test-scale`, which installs them, and not under `make test`.
collect_ignore = [] if os.environ.get("MICROFLEET_SCALE_TESTS") else ["scale"]


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def settings(tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    home = tmp_path / "home"
    monkeypatch.setenv("MICROFLEET_HOME", str(home))
    monkeypatch.setenv("MICROFLEET_MODELS_DIR", str(models_dir))
    return Settings(home=home, models_dir=models_dir, epoch_seconds=0.2)


@pytest.fixture
def ctx(settings: Settings) -> Iterator[PipelineContext]:
    context = load_context(settings)
    yield context
    context.store.close()


@pytest.fixture
def subprocess_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["MICROFLEET_HOME"] = str(settings.home)
    env["MICROFLEET_MODELS_DIR"] = str(settings.models_dir)
    env["MICROFLEET_EPOCH_SECONDS"] = "0.2"
    return env


@contextlib.contextmanager
def running_server(app: object) -> Iterator[str]:
    """A real uvicorn server on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


# One real runtime (models, the corpus in an Edge shard, memory, cache) for the serving and CLI
# tests, served by a real uvicorn server. Apps with other limits share the same runtime.
KEY_A, KEY_B = "key-a", "key-b"


@pytest.fixture(scope="session")
def served_settings(tmp_path_factory: pytest.TempPathFactory, models_dir: object) -> Settings:
    return Settings(
        home=tmp_path_factory.mktemp("served"),
        models_dir=models_dir,  # type: ignore[arg-type]
        api_keys=f"{KEY_A},{KEY_B}",  # type: ignore[arg-type]
        rate_limit="100000/minute",
        auth_failure_limit="100000/minute",
        max_tokens_cap=48,
        request_timeout_seconds=120,
    )


@pytest.fixture(scope="session")
def runtime(served_settings: Settings) -> Iterator[Runtime]:
    from microfleet.features.ingest import run_ingest
    from microfleet.features.sources import resolve_inputs

    ctx = load_context(served_settings)
    run_ingest(resolve_inputs([str(CORPUS)]), served_settings, ctx)
    ctx.store.close()
    built = build_runtime(served_settings)  # the finance fleet, with the adapters it ships
    yield built
    asyncio.run(built.close())


@pytest.fixture(scope="session")
def server(runtime: Runtime, served_settings: Settings) -> Iterator[str]:
    with running_server(create_app(runtime, served_settings, owns_runtime=False)) as url:
        yield url


@contextlib.contextmanager
def variant_server(runtime: Runtime, settings: Settings, **changed: object) -> Iterator[str]:
    """Another app over the shared runtime, with some settings changed (limits, keys...)."""
    app = create_app(runtime, settings.model_copy(update=changed), owns_runtime=False)
    with running_server(app) as url:
        yield url


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY_A}"}

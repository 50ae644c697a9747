"""The scale-out tests' engines, started once per session (`make test-scale`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from microfleet.config import Settings
from tests.scale import engines


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    with engines.postgres() as url:
        yield url


@pytest.fixture
def mlflow_url(postgres_server: str, tmp_path: Path) -> Iterator[str]:
    """A tracking server of the test's own, on a new PostgreSQL database."""
    backend = engines.create_database(postgres_server, f"mlflow_{uuid.uuid4().hex[:12]}")
    with engines.mlflow_server(backend, tmp_path / "mlartifacts") as url:
        yield url


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with engines.redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def settings(settings: Settings, mlflow_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The shared test settings, tracking and registering on the MLflow server."""
    monkeypatch.setenv("MICROFLEET_MLFLOW_URI", mlflow_url)
    return settings.model_copy(update={"mlflow_uri": mlflow_url})

"""Shared fixtures: real models (loaded once per session), a fresh data dir per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

from microfleet.config import Settings
from microfleet.features.ingest import load_context
from microfleet.features.pipeline import PipelineContext

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "fleets" / "finance" / "corpus"


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

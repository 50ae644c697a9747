"""Settings from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from microfleet.config import Settings


def test_an_empty_variable_is_an_unset_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """`MICROFLEET_HOME=` (a variable set to nothing, as a shell without it writes) keeps the
    default data dir: read as a path, "" was the working directory, and its state went there."""
    monkeypatch.setenv("MICROFLEET_HOME", "")
    monkeypatch.setenv("MICROFLEET_LLM_URL", "")
    settings = Settings()
    assert settings.home == Path(".microfleet")
    assert settings.llm_url is None
    monkeypatch.setenv("MICROFLEET_HOME", "/tmp/elsewhere")
    assert Settings().home == Path("/tmp/elsewhere")

"""Build the served app from Settings (what `microfleet serve` runs)."""

from __future__ import annotations

from fastapi import FastAPI

from microfleet.config import Settings
from microfleet.inference.runtime import BASE_MODEL_NAME, build_runtime

__all__ = ["BASE_MODEL_NAME", "build_app"]


def build_app(settings: Settings, with_micromodels: bool = True) -> FastAPI:
    """The base model, plus every micromodel whose champion adapter is registered."""
    from microfleet.privacy import PiiRedactor, redact_logs
    from microfleet.serving.app import create_app

    redactor = PiiRedactor(settings.pii_entities)
    redactor.redact("warm up: a@example.com")  # load the recognizers before the first request
    redact_logs(redactor)
    return create_app(build_runtime(settings, with_micromodels), settings)

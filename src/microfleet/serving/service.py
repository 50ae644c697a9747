"""Build the served app from Settings (what `microfleet serve` runs)."""

from __future__ import annotations

from fastapi import FastAPI

from microfleet.config import Settings
from microfleet.llm.base_model import load_base_model
from microfleet.llm.generator import Generator, LocalGenerator

BASE_MODEL_NAME = "smollm2-135m-instruct"


def build_app(settings: Settings) -> FastAPI:
    from microfleet.serving.app import create_app

    model, tokenizer = load_base_model(settings.base_model, settings.model_cache_dir)
    name = settings.base_model or BASE_MODEL_NAME
    generators: dict[str, Generator] = {name: LocalGenerator(model, tokenizer, name)}
    return create_app(generators, max_tokens_cap=settings.max_tokens_cap)

"""Build the served app from Settings (what `microfleet serve` runs)."""

from __future__ import annotations

import threading

from fastapi import FastAPI

from microfleet.config import Settings
from microfleet.fleet.spec import load_fleet
from microfleet.llm.adapters import load_adapters
from microfleet.llm.base_model import load_base_model
from microfleet.llm.generator import Generator, LocalGenerator

BASE_MODEL_NAME = "smollm2-135m-instruct"


def build_app(settings: Settings, with_micromodels: bool = True) -> FastAPI:
    """The base model, plus every micromodel whose champion adapter is registered."""
    from microfleet.serving.app import create_app

    model, tokenizer = load_base_model(settings.base_model, settings.model_cache_dir)
    names: list[str] = []
    if with_micromodels and settings.fleet.exists():
        model, names = load_adapters(settings, load_fleet(settings.fleet), model)
    base = settings.base_model or BASE_MODEL_NAME
    lock = threading.Lock()  # one model in memory: one generation at a time
    generators: dict[str, Generator] = {base: LocalGenerator(model, tokenizer, base, None, lock)}
    for name in names:
        generators[name] = LocalGenerator(model, tokenizer, name, name, lock)
    return create_app(generators, max_tokens_cap=settings.max_tokens_cap, parent=base)

"""Checks both local decoders run (tests/llm/test_local.py, tests/llm/test_llamacpp.py)."""

from __future__ import annotations

import asyncio
import json

from microfleet.llm.local import BatchingEngine, LocalGenerator

QUESTIONS = ["Name a primary colour.", "What is two plus two?", "Say hello.", "Name a fruit."]
COLOUR = {
    "type": "object",
    "properties": {
        "colour": {"type": "string", "maxLength": 12},
        "bright": {"type": "boolean"},
    },
    "required": ["colour", "bright"],
}


def schema_batch(engine: BatchingEngine) -> str:
    """One batch: two rows under the COLOUR schema (the base model and the `noisy` adapter),
    whose JSON is checked here, and one free row; returns the free row's answer."""
    import jsonschema

    async def run() -> list[str]:
        asks = [
            LocalGenerator(engine, "base").generate(
                [{"role": "user", "content": QUESTIONS[0]}], 60, 0.0, COLOUR
            ),
            LocalGenerator(engine, "noisy", "noisy").generate(
                [{"role": "user", "content": QUESTIONS[3]}], 60, 0.0, COLOUR
            ),
            LocalGenerator(engine, "base").generate(
                [{"role": "user", "content": QUESTIONS[1]}], 10, 0.0
            ),
        ]
        return [g.text for g in await asyncio.gather(*asks)]

    typed_a, typed_b, plain = asyncio.run(run())
    for text in (typed_a, typed_b):
        jsonschema.validate(json.loads(text), COLOUR)
    return plain

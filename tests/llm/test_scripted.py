from __future__ import annotations

import asyncio
import json

from microfleet.knowledge.embedding import HashingEmbedder
from microfleet.llm.scripted import ScriptedGenerator


def test_the_scripted_generator_streams_its_script_and_keeps_to_a_schema() -> None:
    model = ScriptedGenerator(script=lambda messages, _: f"You said: {messages[-1]['content']}")
    reply = asyncio.run(model.generate([{"role": "user", "content": "hello there"}], 10, 0.0))
    assert (reply.text, reply.finish_reason, reply.completion_tokens) == (
        "You said: hello there",
        "stop",
        4,
    )
    cut = asyncio.run(model.generate([{"role": "user", "content": "one two three"}], 2, 0.0))
    assert (cut.text, cut.finish_reason) == ("You said:", "length")
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "const": "Oslo"}, "n": {"type": "number"}},
    }
    typed = asyncio.run(ScriptedGenerator().generate([], 50, 0.0, schema))
    assert json.loads(typed.text) == {"city": "Oslo", "n": 0}
    assert len(model.asked) == 2


def test_the_hashing_embedder_is_deterministic_and_word_based() -> None:
    embedder = HashingEmbedder(dim=64)
    a, b, c, empty = embedder.embed(["Ferry fares today", "ferry FARES", "opening hours", ""])
    assert abs(float(a @ a) - 1) < 1e-6 and abs(float(empty @ empty) - 1) < 1e-6
    assert float(a @ b) > 0.7 > float(a @ c)
    assert (embedder.embed(["Ferry fares today"])[0] == a).all()

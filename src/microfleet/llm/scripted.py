"""A scripted Generator for fast tests of what surrounds a model: it answers from a script,
streams word by word, and remembers what it was asked. A real subclass of the seam, as
pydantic-ai ships `TestModel`; use the real models where the words are what a test checks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from microfleet.llm.generator import Delta, Generator, Messages, stop_point

Script = Callable[[Messages, dict[str, Any] | None], str]  # (messages, schema) -> the answer


class ScriptedGenerator(Generator):
    """Answers `script(messages, schema)`, or the same `reply` every time; under a schema
    without a script, a JSON object of the schema's `const` values (else empty strings,
    zeros and falses) so the result is valid data."""

    def __init__(
        self,
        name: str = "scripted",
        reply: str = "A scripted answer.",
        script: Script | None = None,
        parent: str | None = None,
    ) -> None:
        self.name, self.reply, self.script, self.parent = name, reply, script, parent
        self.asked: list[Messages] = []  # every request's messages, in order

    async def stream(
        self,
        messages: Messages,
        max_tokens: int,
        temperature: float,
        schema: dict[str, Any] | None = None,
        stop: Sequence[str] = (),
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> AsyncIterator[Delta]:
        self.asked.append(messages)
        if self.script is not None:
            text = self.script(messages, schema)
        else:
            text = json.dumps(_placeholder(schema)) if schema else self.reply
        end, stopped = stop_point(text, stop)
        every = text[:end].split(" ") if stopped else text.split(" ")
        words = every[:max_tokens]
        for i, word in enumerate(words):
            yield Delta(word if i == 0 else f" {word}")
        finish = "length" if len(words) < len(every) else "stop"
        prompt = sum(len(str(m.get("content") or "").split()) for m in messages)
        yield Delta("", finish, prompt, len(words))


def _placeholder(schema: dict[str, Any]) -> dict[str, Any]:
    empty = {"string": "", "number": 0, "integer": 0, "boolean": False}
    return {
        name: prop.get("const", empty.get(prop.get("type", "string"), ""))
        for name, prop in schema.get("properties", {}).items()
    }

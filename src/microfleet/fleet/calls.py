"""One deadline for the calls of a round, and how their typed results are read."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any


class Progress:
    """One deadline for a round's calls: it expires only when none of them has made progress
    (a streamed token) for `timeout_s`, so calls queued behind a busy engine do not time out
    while it works through them."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.last = time.monotonic()
        self.expired = False
        self.tasks: list[asyncio.Task[Any]] = []

    def tick(self) -> None:
        self.last = time.monotonic()

    async def watch(self) -> None:
        while True:
            idle = time.monotonic() - self.last
            if idle >= self.timeout_s:
                self.expired = True
                for task in self.tasks:
                    task.cancel()
                return
            await asyncio.sleep(self.timeout_s - idle)


def parse_result(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A typed result: the JSON a micromodel wrote under its schema, checked against it."""
    from jsonschema import Draft202012Validator

    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"the result is not complete JSON: {text[:80]!r}") from None
    error = next(iter(Draft202012Validator(schema).iter_errors(data)), None)
    if error is not None:
        raise ValueError(f"the result does not match its schema: {error.message}")
    return dict(data)

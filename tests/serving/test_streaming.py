"""`primed`: a stream whose first item is awaited before its response starts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from microfleet.serving.streaming import primed


def _source(log: list[str], fail_at: int | None = None) -> AsyncIterator[int]:
    async def items() -> AsyncIterator[int]:
        try:
            for i in range(3):
                if i == fail_at:
                    raise RuntimeError(f"failed at {i}")
                log.append(f"made {i}")
                yield i
        finally:
            log.append("closed")

    return items()


def test_the_first_item_is_made_before_reading_starts() -> None:
    async def run() -> tuple[list[str], list[str], list[int]]:
        log: list[str] = []
        stream = await primed(_source(log))
        before = list(log)
        return before, log, [i async for i in stream]

    before, log, items = asyncio.run(run())
    assert before == ["made 0"]  # awaited by primed itself, not by the first read
    assert items == [0, 1, 2] and log[-1] == "closed"


def test_an_error_before_the_first_item_is_raised_where_the_stream_is_read() -> None:
    async def run() -> list[int]:
        stream = await primed(_source([], fail_at=0))  # no error yet: the response starts
        return [i async for i in stream]

    with pytest.raises(RuntimeError, match="failed at 0"):
        asyncio.run(run())


def test_closing_early_closes_the_source() -> None:
    async def run() -> list[str]:
        log: list[str] = []
        stream = await primed(_source(log))
        assert await anext(stream) == 0
        await stream.aclose()  # type: ignore[attr-defined]
        return log

    assert asyncio.run(run()) == ["made 0", "closed"]

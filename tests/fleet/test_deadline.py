"""One deadline for a round's calls: it runs out only when no call makes progress, so calls
queued behind a busy engine are not timed out. The generator here is a real subclass of the
Generator seam that streams on a timetable (the model's words are not under test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from microfleet.fleet.calls import Progress
from microfleet.fleet.orchestrator import FleetOptions, Orchestrator
from microfleet.fleet.router import Plan, Router, ToolCall
from microfleet.llm.generator import Delta, Generator, Messages
from microfleet.micromodel.spec import load_fleet
from tests.conftest import REPO

FLEET = load_fleet(REPO / "fleets" / "finance" / "fleet.yaml")


class OneAtATime(Generator):
    """A busy engine: one call at a time, each streaming `pieces` tokens `gap` seconds apart,
    after `stall` seconds of silence."""

    name = "one-at-a-time"

    def __init__(self, pieces: int, gap: float, stall: float = 0.0) -> None:
        self.pieces, self.gap, self.stall = pieces, gap, stall
        self.lock = asyncio.Lock()

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
        async with self.lock:
            await asyncio.sleep(self.stall)
            for _ in range(self.pieces):
                await asyncio.sleep(self.gap)
                yield Delta("news ")
            yield Delta("", "stop")


class NoRouter(Router):
    name = "none"

    async def plan(self, question: str, transcript: Messages | None = None) -> Plan:
        return Plan()


def _round(generator: Generator, calls: int, timeout_s: float) -> list[Any]:
    orchestrator = Orchestrator(
        fleet=FLEET,
        router=NoRouter(),
        generators={"market_news": generator},
        fallback=generator,
        options=FleetOptions(call_timeout_s=timeout_s),
    )  # no knowledge base: no retrieval in this test

    async def run() -> list[Any]:
        progress = Progress(timeout_s)
        watchdog = asyncio.create_task(progress.watch())
        try:
            asks = [
                orchestrator._dispatch(ToolCall("market_news", {"topic": f"t{i}"}), [], progress)
                for i in range(calls)
            ]
            return list(await asyncio.gather(*asks))
        finally:
            watchdog.cancel()

    return asyncio.run(run())


def test_calls_queued_behind_a_busy_engine_do_not_time_out() -> None:
    # Four calls of 0.4 s each, one at a time: the last one finishes after 1.6 s, four times
    # the 0.4 s limit, but tokens keep coming all along.
    results = _round(OneAtATime(pieces=8, gap=0.05), calls=4, timeout_s=0.4)
    assert [r.error for r in results] == [None] * 4
    assert all(r.output and r.output.startswith("news") for r in results)


def test_a_stalled_engine_times_the_round_out() -> None:
    results = _round(OneAtATime(pieces=2, gap=0.01, stall=2.0), calls=2, timeout_s=0.3)
    assert all(r.output is None for r in results)
    assert all(r.error == "timed out: no progress for 0.3 s" for r in results)


def test_a_looping_prose_call_ends_before_the_repeat() -> None:
    from microfleet.llm.scripted import ScriptedGenerator

    line = "The company's revenue was reported for the quarter."
    looping = ScriptedGenerator(reply="\n".join(f"{n}. {line}" for n in range(1, 40)))
    (result,) = _round(looping, calls=1, timeout_s=5.0)
    assert result.output == f"1. {line}"

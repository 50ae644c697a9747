"""Streaming helpers shared by SSE and the WebSocket: a deadline, and OpenAI chunk frames."""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from microfleet.errors import MicrofleetError, first_line
from microfleet.inference.turns import Prepared
from microfleet.llm.generator import Delta
from microfleet.serving.drain import Drain, ShuttingDown

T = TypeVar("T")


async def within(
    stream: AsyncIterator[T], seconds: float, drain: Drain | None = None
) -> AsyncIterator[T]:
    """The stream's items until `seconds` have passed (then TimeoutError) or a shutdown's
    drain has ended (then ShuttingDown); always closed."""
    deadline = time.monotonic() + seconds
    try:
        while True:
            remaining = min(deadline - time.monotonic(), drain.remaining() if drain else math.inf)
            try:  # a timeout scope, not wait_for's task per item (a token's worth of overhead)
                async with asyncio.timeout(max(remaining, 0.001)):
                    item = await anext(stream)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if drain is not None and drain.remaining() <= 0:
                    raise ShuttingDown(
                        "the server is shutting down and stopped this answer; retry"
                    ) from None
                raise
            yield item
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


async def merged(streams: list[AsyncIterator[T]]) -> AsyncIterator[tuple[int, T]]:
    """The items of several streams (the choices of one request) as they come, each with
    its stream's index; the first error ends them all, and closing this closes them all."""
    if len(streams) == 1:  # one choice (most requests): no queue and task between tokens
        try:
            async for only in streams[0]:
                yield 0, only
        finally:
            await streams[0].aclose()  # type: ignore[attr-defined]
        return
    queue: asyncio.Queue[tuple[int, T | BaseException | None]] = asyncio.Queue()

    async def pump(index: int, stream: AsyncIterator[T]) -> None:
        try:
            async for item in stream:
                await queue.put((index, item))
            await queue.put((index, None))
        except Exception as exc:
            await queue.put((index, exc))

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    try:
        going = len(tasks)
        while going:
            index, item = await queue.get()
            if isinstance(item, BaseException):
                raise item
            if item is None:
                going -= 1
            else:
                yield index, item
    finally:
        for task in tasks:
            task.cancel()  # a stream still going stops its generation
        await asyncio.gather(*tasks, return_exceptions=True)


class ChunkWriter:
    """`chat.completion.chunk` JSON for one streamed answer."""

    def __init__(self, model: str, response_id: str | None = None) -> None:
        self.id = response_id or f"chatcmpl-{uuid.uuid4().hex}"
        self.model, self.created = model, int(time.time())

    def frame(
        self, delta: dict[str, Any], finish: str | None = None, index: int = 0, **extra: Any
    ) -> str:
        choice = {"index": index, "delta": delta, "finish_reason": finish}
        return self._dump({"choices": [choice], **extra})

    def usage(self, prompt: int, completion: int) -> str:
        usage = {"prompt_tokens": prompt, "completion_tokens": completion}
        return self._dump({"choices": [], "usage": {**usage, "total_tokens": prompt + completion}})

    def _dump(self, body: dict[str, Any]) -> str:
        head = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
        }
        return json.dumps({**head, **body}, ensure_ascii=False)


async def sse_events(
    answers: list[AsyncIterator[Delta]],
    prepared: Prepared,
    include_usage: bool,
    seconds: float,
    drain: Drain | None = None,
) -> AsyncIterator[dict[str, str]]:
    """SSE data frames: a role frame, content frames, a final frame with `sources`, [DONE];
    with several answers (`n`), each choice's frames carry its index.
    An answer that fails or outlasts a shutdown's drain ends with an error frame, then a
    final frame with finish_reason "error", then [DONE]: never a silent end."""
    writer = ChunkWriter(prepared.turn.model, prepared.response_id)
    for index in range(len(answers)):
        yield {"data": writer.frame({"role": "assistant", "content": ""}, index=index)}
    last = [Delta("", "stop") for _ in answers]
    try:
        async for index, delta in within(merged(answers), seconds, drain):
            if delta.text:
                yield {"data": writer.frame({"content": delta.text}, index=index)}
            last[index] = delta
    except Exception as exc:  # the status line is sent already: report in-band, then end
        kind = "shutting_down" if isinstance(exc, ShuttingDown) else "error"
        yield {"data": json.dumps({"error": {"message": error_message(exc), "type": kind}})}
        yield {"data": writer.frame({}, "error")}
        yield {"data": "[DONE]"}
        return
    extra = {"sources": prepared.sources, "cached": prepared.cached, "trace": prepared.fleet_trace}
    for index, end in enumerate(last):
        yield {"data": writer.frame({}, end.finish_reason or "stop", index, **extra)}
    if include_usage:
        completion = sum(end.completion_tokens for end in last)
        yield {"data": writer.usage(last[0].prompt_tokens, completion)}
    yield {"data": "[DONE]"}


def error_message(exc: BaseException) -> str:
    if isinstance(exc, MicrofleetError):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "the answer took too long and was stopped; retry, or ask for fewer max_tokens"
    return f"generation failed: {first_line(exc)}"

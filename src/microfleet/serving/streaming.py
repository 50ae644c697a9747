"""Streaming helpers shared by SSE and the WebSocket: a deadline, and OpenAI chunk frames."""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from microfleet.errors import MicrofleetError, first_line
from microfleet.inference.assistant import Prepared
from microfleet.llm.generator import Delta
from microfleet.serving.drain import Drain, ShuttingDown


async def within(
    stream: AsyncIterator[Delta], seconds: float, drain: Drain | None = None
) -> AsyncIterator[Delta]:
    """The stream's items until `seconds` have passed (then TimeoutError) or a shutdown's
    drain has ended (then ShuttingDown); always closed."""
    deadline = time.monotonic() + seconds
    try:
        while True:
            remaining = min(deadline - time.monotonic(), drain.remaining() if drain else math.inf)
            try:
                item = await asyncio.wait_for(anext(stream), max(remaining, 0.001))
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


class ChunkWriter:
    """`chat.completion.chunk` JSON for one streamed answer."""

    def __init__(self, model: str, response_id: str | None = None) -> None:
        self.id = response_id or f"chatcmpl-{uuid.uuid4().hex}"
        self.model, self.created = model, int(time.time())

    def frame(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
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
    answer: AsyncIterator[Delta],
    prepared: Prepared,
    include_usage: bool,
    seconds: float,
    drain: Drain | None = None,
) -> AsyncIterator[dict[str, str]]:
    """SSE data frames: a role frame, content frames, a final frame with `sources`, [DONE].
    An answer that fails or outlasts a shutdown's drain ends with an error frame, then a
    final frame with finish_reason "error", then [DONE]: never a silent end."""
    writer = ChunkWriter(prepared.turn.model, prepared.response_id)
    yield {"data": writer.frame({"role": "assistant", "content": ""})}
    last = Delta("", "stop")
    try:
        async for delta in within(answer, seconds, drain):
            if delta.text:
                yield {"data": writer.frame({"content": delta.text})}
            last = delta
    except Exception as exc:  # the status line is sent already: report in-band, then end
        kind = "shutting_down" if isinstance(exc, ShuttingDown) else "error"
        yield {"data": json.dumps({"error": {"message": error_message(exc), "type": kind}})}
        yield {"data": writer.frame({}, "error")}
        yield {"data": "[DONE]"}
        return
    extra = {"sources": prepared.sources, "cached": prepared.cached, "trace": prepared.fleet_trace}
    yield {"data": writer.frame({}, last.finish_reason or "stop", **extra)}
    if include_usage:
        yield {"data": writer.usage(last.prompt_tokens, last.completion_tokens)}
    yield {"data": "[DONE]"}


def error_message(exc: BaseException) -> str:
    if isinstance(exc, MicrofleetError):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "the answer took too long and was stopped; retry, or ask for fewer max_tokens"
    return f"generation failed: {first_line(exc)}"

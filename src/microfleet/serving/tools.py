"""Client-sent OpenAI `tools`: the local model answers with `tool_calls` (constrained decoding)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse

from microfleet.errors import UserError
from microfleet.fleet.constrained import asked_for, relevant
from microfleet.inference.runtime import Runtime
from microfleet.serving.schemas import ChatMessage, ChatRequest, ChatResponse, Choice, Usage
from microfleet.serving.streaming import ChunkWriter


async def tool_calls_reply(
    body: ChatRequest, runtime: Runtime, timeout: float
) -> ChatResponse | EventSourceResponse | None:
    """OpenAI `tool_calls` for the request, or None when the model calls no tool."""
    route = runtime.assistant.route(body.model)  # 404 for an unknown model
    decoder = runtime.tool_decoder
    if decoder is None:
        raise UserError(
            "client tools need the local model; this server answers through another backend"
        )
    most = None if body.parallel_tool_calls else 1
    tools, turns = body.tool_dicts(), body.turns()
    calling = decoder.calls(tools, turns, body.must_call(), most, route.generator)
    decoded = await asyncio.wait_for(calling, timeout)
    asked = [m.text() for m in body.messages if m.role == "user"]
    question = asked[-1] if asked else ""
    calls = asked_for(decoded.get("calls", []), tools, question)
    if body.chosen_tool() is None:  # a named function is called whatever the question says
        embedder = runtime.features.embedder
        calls = await asyncio.to_thread(relevant, calls, tools, question, embedder)
    if not calls:
        return None
    tool_calls = [
        {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}))},
        }
        for c in calls
    ]
    if body.stream:
        return EventSourceResponse(_frames(body.model, tool_calls))
    message = ChatMessage(role="assistant", content=None, tool_calls=tool_calls)
    return ChatResponse(
        model=body.model,
        choices=[Choice(message=message, finish_reason="tool_calls")],
        usage=Usage.of(0, 0),
    )


async def _frames(model: str, tool_calls: list[dict[str, Any]]) -> AsyncIterator[dict[str, str]]:
    writer = ChunkWriter(model)
    yield {"data": writer.frame({"role": "assistant", "content": None})}
    for index, call in enumerate(tool_calls):
        yield {"data": writer.frame({"tool_calls": [{"index": index, **call}]})}
    yield {"data": writer.frame({}, "tool_calls")}
    yield {"data": "[DONE]"}

"""Chat: POST /v1/chat/completions (JSON or SSE) and WS /v1/ws. Thin: parse, call, format."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from sse_starlette import EventSourceResponse
from starlette.requests import HTTPConnection

from microfleet.errors import MicrofleetError
from microfleet.inference.assistant import Turn
from microfleet.inference.cache import tenant_of
from microfleet.knowledge.service import parse_filter
from microfleet.llm.generator import BackendUnavailable, Delta
from microfleet.serving.schemas import ChatMessage, ChatRequest, ChatResponse, Choice, Usage
from microfleet.serving.streaming import error_message, sse_events, within
from microfleet.serving.tools import tool_calls_reply

router = APIRouter()


def turn_from(body: ChatRequest, conn: HTTPConnection) -> Turn:
    settings = conn.app.state.settings
    asked = body.since or body.symbols or body.tags
    return Turn(
        model=body.model,
        messages=[m.as_turn() for m in body.messages],
        max_tokens=body.limit(settings.max_tokens_cap),
        temperature=body.temperature,
        session=conn.headers.get("x-session-id") or body.session_id or body.user,
        tenant=tenant_of(getattr(conn.state, "api_key", None)),
        use_cache="no-cache" not in conn.headers.get("cache-control", "").lower(),
        rag=settings.rag if body.rag is None else body.rag,
        filter=parse_filter(body.since, body.symbols, body.tags) if asked else None,
    )


@router.post("/v1/chat/completions", response_model=None)
async def chat(body: ChatRequest, request: Request) -> ChatResponse | EventSourceResponse:
    assistant, timeout = request.app.state.runtime.assistant, request.app.state.timeout
    if body.wants_tools():
        called = await tool_calls_reply(body, request.app.state.runtime, timeout)
        if called is not None:
            return called
    prepared = await assistant.prepare(turn_from(body, request))
    answer = assistant.stream(prepared)
    if body.stream:
        usage = bool(body.stream_options and body.stream_options.include_usage)
        events = sse_events(answer, prepared, usage, timeout)
        return EventSourceResponse(events, ping=15, headers={"Cache-Control": "no-cache"})
    parts, last = [], Delta("", "stop")
    async for delta in within(answer, timeout):
        parts.append(delta.text)
        last = delta
    return ChatResponse(
        id=prepared.response_id,
        model=body.model,
        choices=[
            Choice(
                message=ChatMessage(role="assistant", content="".join(parts).strip()),
                finish_reason=last.finish_reason or "stop",
            )
        ],
        usage=Usage.of(last.prompt_tokens, last.completion_tokens),
        sources=prepared.sources,
        cached=prepared.cached,
        trace=prepared.fleet_trace,
    )


@router.websocket("/v1/ws")
async def chat_socket(ws: WebSocket) -> None:
    """Send a chat request as JSON; receive `delta` messages, then one `done` (or `error`)."""
    await ws.accept()
    while True:
        try:
            data = await ws.receive_json()
        except WebSocketDisconnect:
            return
        except ValueError:
            await ws.send_json({"type": "error", "message": "send one JSON chat request"})
            continue
        try:
            await _answer_socket(ws, data)
        except WebSocketDisconnect:  # the client left mid-answer: nothing to send it
            return


async def _answer_socket(ws: WebSocket, data: Any) -> None:
    assistant, timeout = ws.app.state.runtime.assistant, ws.app.state.timeout
    try:
        body = ChatRequest.model_validate(data)
        prepared = await assistant.prepare(turn_from(body, ws))
        last = Delta("", "stop")
        async for delta in within(assistant.stream(prepared), timeout):
            if delta.text:
                await ws.send_json({"type": "delta", "content": delta.text})
            last = delta
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        await ws.send_json({"type": "error", "message": f"{where}: {first['msg']}"})
        return
    except (MicrofleetError, BackendUnavailable, TimeoutError) as exc:
        await ws.send_json({"type": "error", "message": error_message(exc)})
        return
    usage = Usage.of(last.prompt_tokens, last.completion_tokens).model_dump()
    done = {
        "finish_reason": last.finish_reason,
        "sources": prepared.sources,
        "usage": usage,
        "trace": prepared.fleet_trace,
    }
    await ws.send_json(
        {"type": "done", "id": prepared.response_id, "cached": prepared.cached, **done}
    )

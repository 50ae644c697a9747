"""Chat: POST /v1/chat/completions (JSON or SSE) and WS /v1/ws. Thin: parse, call, format."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter, Request, Response, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from sse_starlette import EventSourceResponse
from starlette.requests import HTTPConnection

from microfleet.errors import MicrofleetError, UserError
from microfleet.inference.turns import Turn
from microfleet.knowledge.service import parse_filter
from microfleet.llm.generator import BackendUnavailable, Delta
from microfleet.llm.guided import bounded, schema_problem
from microfleet.serving.access import counted, note_of
from microfleet.serving.deps import Server, ServerDep
from microfleet.serving.schemas import ChatMessage, ChatRequest, ChatResponse, Choice, Usage
from microfleet.serving.streaming import error_message, merged, sse_events, within
from microfleet.serving.tenancy import principal
from microfleet.serving.tools import tool_calls_reply

router = APIRouter()
log = logging.getLogger("microfleet.serving")
SOCKET_ANSWERS_ONE = (
    "the WebSocket streams one answer: send `n` above 1 or `tools` to POST /v1/chat/completions"
)


def turn_from(body: ChatRequest, conn: HTTPConnection, server: Server) -> Turn:
    if reason := body.refusal():
        raise UserError(reason)
    schema = body.output_schema()
    if schema is not None and (problem := schema_problem(schema)):
        raise UserError(f"response_format: {problem}")
    settings, who = server.settings, principal(conn)
    asked = body.since or body.symbols or body.tags
    max_tokens = body.limit(token_cap(server, body.model))
    if schema is not None:  # a free string may fill a third of the budget, so the JSON can end
        schema = bounded(schema, max_length=max(16, max_tokens))
    return Turn(
        model=body.model,
        messages=body.turns(),
        max_tokens=max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        seed=body.seed,
        stop=body.stops(),
        schema=schema,
        session=conn.headers.get("x-session-id") or body.session_id or body.user,
        tenant=who.tenant,
        readers=server.readers(who),
        use_cache="no-cache" not in conn.headers.get("cache-control", "").lower(),
        rag=body.grounded(settings.rag),
        filter=parse_filter(body.since, body.symbols, body.tags) if asked else None,
    )


def token_cap(server: Server, model: str) -> int:
    """max_tokens_cap, lowered to what the model can generate within the request timeout
    at its measured rate (with a margin), so no answer holds the engine only to time out."""
    cap = server.settings.max_tokens_cap
    route = server.assistant.routes.get(model)
    rate = route.generator.tokens_per_second() if route else None
    return cap if rate is None else max(16, min(cap, int(rate * server.timeout * 0.8)))


@router.post("/v1/chat/completions", response_model=None)
async def chat(body: ChatRequest, request: Request, server: ServerDep) -> ChatResponse | Response:
    """The answer; a client that leaves before it is ready stops its generation."""
    return await unless_gone(request, _chat(body, request, server))


async def unless_gone(request: Request, work: Awaitable[Response | ChatResponse]) -> Any:
    """`work`'s result, or (cancelling it) an empty 499 once the client has disconnected."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.create_task(_disconnect(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, watcher):
            if not pending.done():
                pending.cancel()
    if task.cancelled() or not task.done():
        return Response(status_code=499)  # nobody is listening
    return task.result()


async def _disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def screened(body: ChatRequest, conn: HTTPConnection, server: Server) -> Turn:
    """The request as a Turn; a question the injection screen flags carries the
    deployment's answer to it (refuse, or no tools)."""
    turn = turn_from(body, conn, server)
    features = server.runtime.features
    screen = features.screen
    users = [m["content"] for m in turn.messages if m["role"] == "user"]
    question = users[-1].strip() if users else ""
    if screen is not None and question:
        vectors = await asyncio.to_thread(features.embedder.embed, [question])
        turn.vector = vectors[0].tolist()  # the assistant's cache and retrieval reuse it
        if screen.flagged([question], vectors)[0]:
            turn.guard = server.settings.injection_action
    return turn


async def _chat(body: ChatRequest, request: Request, server: Server) -> ChatResponse | Response:
    assistant, timeout, drain = server.assistant, server.timeout, server.drain
    note = note_of(request)
    note.model = body.model
    turn = await screened(body, request, server)
    if body.wants_tools() and not turn.guard:
        called = await tool_calls_reply(body, server.runtime, timeout)
        if called is not None:
            return called
    prepared = await assistant.prepare(turn)
    answers = [counted(assistant.stream(prepared, i), note) for i in range(body.n)]
    if body.stream:
        usage = bool(body.stream_options and body.stream_options.include_usage)
        events = sse_events(answers, prepared, usage, timeout, drain)
        return EventSourceResponse(
            events,
            ping=15,
            headers={"Cache-Control": "no-cache"},
            shutdown_grace_period=drain.seconds + 2,  # the stream ends itself by then
        )
    texts, last = [""] * body.n, [Delta("", "stop") for _ in answers]
    async for index, delta in within(merged(answers), timeout, drain):
        texts[index] += delta.text
        last[index] = delta
    choices = [
        Choice(
            index=index,
            message=ChatMessage(role="assistant", content=text.strip()),
            finish_reason=end.finish_reason or "stop",
        )
        for index, (text, end) in enumerate(zip(texts, last, strict=True))
    ]
    completion = sum(end.completion_tokens for end in last)
    return ChatResponse(
        id=prepared.response_id,
        model=body.model,
        choices=choices,
        usage=Usage.of(last[0].prompt_tokens, completion),
        sources=prepared.sources,
        cached=prepared.cached,
        trace=prepared.fleet_trace,
    )


@router.websocket("/v1/ws")
async def chat_socket(ws: WebSocket, server: ServerDep) -> None:
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
        limits = server.limits
        if (wait := limits.hit(ws.state.api_key)) is not None:  # every message counts
            await ws.send_json(
                {"type": "error", "message": limits.refusal(wait), "retry_after": wait}
            )
            continue
        try:
            await _answer_socket(ws, data, server)
        except WebSocketDisconnect:  # the client left mid-answer: nothing to send it
            return
        except Exception as exc:  # never a silent close: say so, keep the socket
            log.error("unhandled error on the WebSocket: %r", exc)
            failed = {"type": "error", "message": "internal error; the server log has the details"}
            await ws.send_json(failed)


async def _answer_socket(ws: WebSocket, data: Any, server: Server) -> None:
    assistant, timeout = server.assistant, server.timeout
    try:
        body = ChatRequest.model_validate(data)
        if body.n > 1 or body.wants_tools():
            raise UserError(SOCKET_ANSWERS_ONE)
        prepared = await assistant.prepare(await screened(body, ws, server))
        last = Delta("", "stop")
        async for delta in within(assistant.stream(prepared), timeout, server.drain):
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

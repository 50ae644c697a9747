"""The access log: one line per request, written once its response has ended (a stream's last
frame included): method, path, status, latency, model and tokens. Never the query string, a
header or the body, so never a prompt or a key. On by default in `serve`
(MICROFLEET_ACCESS_LOG), on the `microfleet.access` logger."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection

from microfleet.llm.generator import Delta

log = logging.getLogger("microfleet.access")
_KEY = "access"  # where the request's note lives in the ASGI scope's state


@dataclass
class AccessNote:
    """What a handler adds to its request's line."""

    model: str = "-"
    prompt_tokens: int = 0
    completion_tokens: int = 0


class AccessLog:
    """Pure ASGI middleware (a streamed body passes through untouched)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [101 if scope["type"] == "websocket" else 0]
        note = scope.setdefault("state", {})[_KEY] = AccessNote()

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            log.info(
                "%s %s %d %.0fms model=%s tokens=%d+%d",
                scope.get("method", "WS"),
                scope["path"],
                status[0] or 500,
                (time.perf_counter() - started) * 1000,
                note.model,
                note.prompt_tokens,
                note.completion_tokens,
            )


def note_of(conn: HTTPConnection) -> AccessNote:
    """This request's note (a throwaway one where the access log is off)."""
    note = conn.scope.get("state", {}).get(_KEY)
    return note if isinstance(note, AccessNote) else AccessNote()


async def counted(answer: AsyncIterator[Delta], note: AccessNote) -> AsyncIterator[Delta]:
    """`answer` unchanged, its token counts noted from its last piece (the completion
    tokens of a request's several choices add up)."""
    async for delta in answer:
        if delta.finish_reason:
            note.prompt_tokens = delta.prompt_tokens
            note.completion_tokens += delta.completion_tokens
        yield delta


def access_to_stderr() -> None:
    """The access log's lines on stderr, as they are (`serve`)."""
    log.addHandler(logging.StreamHandler())
    log.setLevel(logging.INFO)
    log.propagate = False

"""One ASGI middleware in front of every route: API keys (401), per-key rate limits (429 with
Retry-After) and the request body limit (413). Health routes stay open for probes, and the
playground's static page and files are open too (its API calls carry the key).
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/"})  # probes, and the playground's page
OPEN_PREFIXES = ("/web/",)  # the playground's static files
Scope = dict[str, Any]


class Guard:
    def __init__(
        self,
        app: Any,
        keys: list[str],
        max_body_bytes: int,
        rate_limit: str,
        storage_uri: str = "memory://",
    ) -> None:
        self.app, self.keys, self.max_body = app, frozenset(keys), max_body_bytes
        self.limit = parse(rate_limit)
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or _is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        key = presented_key(scope)
        if self.keys and key not in self.keys:
            await _refuse(scope, send, 401, "missing or invalid API key", "invalid_api_key")
            return
        who = key or (scope.get("client") or ("anonymous",))[0]
        if not self.limiter.hit(self.limit, who):
            reset = self.limiter.get_window_stats(self.limit, who).reset_time
            wait = max(1, math.ceil(reset - time.time()))
            message = f"rate limit of {self.limit} exceeded; retry in {wait} s"
            await _refuse(scope, send, 429, message, "rate_limit_exceeded", {"retry-after": wait})
            return
        scope.setdefault("state", {})["api_key"] = key
        if scope["type"] == "http":
            body = await _read_body(receive, self.max_body)
            if body is None:
                limit = f"the request body is over the {self.max_body // 1024} KB limit"
                await _refuse(scope, send, 413, limit, "request_too_large")
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def presented_key(scope: Scope) -> str | None:
    """`Authorization: Bearer KEY` (what OpenAI clients send), `X-API-Key`, or `?api_key=`."""
    headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    if "x-api-key" in headers:
        return headers["x-api-key"].strip() or None
    query = scope.get("query_string", b"").decode()
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "api_key" and value:
            return value
    return None


async def _read_body(receive: Any, limit: int) -> list[dict[str, Any]] | None:
    """The body's messages, or None once it is over `limit` bytes."""
    messages, size = [], 0
    while True:
        message = await receive()
        messages.append(message)
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if message["type"] != "http.request" or not message.get("more_body"):
            return messages


def _replay(messages: list[dict[str, Any]], upstream: Any) -> Any:
    """The body already read, then the real channel (which reports a client disconnect)."""
    pending = list(messages)

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        return await upstream()

    return receive


async def _refuse(
    scope: Scope,
    send: Any,
    status: int,
    message: str,
    code: str,
    headers: dict[str, Any] | None = None,
) -> None:
    """An HTTP error; a WebSocket handshake gets the same response where the server supports
    the ASGI denial-response extension (uvicorn does), else a close with code 1008."""
    prefix = "http."
    if scope["type"] == "websocket":
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        prefix = "websocket.http."
    body = json.dumps({"error": {"message": message, "type": code, "code": status}}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), str(v).encode()) for k, v in (headers or {}).items()]
    await send({"type": f"{prefix}response.start", "status": status, "headers": raw})
    await send({"type": f"{prefix}response.body", "body": body})

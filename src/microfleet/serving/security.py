"""One ASGI middleware in front of every route: cross-site refusal (403, 415), API keys as
tenants (401), failed-key and per-key rate limits (429 with Retry-After), and the request
body's size and arrival time (413, 408). Health routes stay open for probes, and the
playground's static page and files are open too (its API calls carry the key). Every HTTP
response carries a strict Content-Security-Policy.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from microfleet.serving.drain import Drain
from microfleet.serving.tenancy import PUBLIC, Principal

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/"})  # probes, and the playground's page
OPEN_PREFIXES = ("/web/",)  # the playground's static files
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What a state-changing request may send: JSON, JSONL, or an uploaded file's bytes. The
# types an HTML form or a "simple" cross-site fetch can send (text/plain, forms) are refused.
BODY_TYPES = ("application/json", "application/x-ndjson", "application/jsonl")
UPLOAD_TYPE = "application/octet-stream"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
Scope = dict[str, Any]


class Limits:
    """Per-key (or per-address) request limits, and failed keys per client address; shared
    by the middleware and the WebSocket, which counts every message."""

    def __init__(self, rate: str, auth_failures: str, storage_uri: str = "memory://") -> None:
        self.rate, self.auth_failures = parse(rate), parse(auth_failures)
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def hit(self, who: str) -> int | None:
        """None when `who` may go on; else the seconds to wait."""
        if self.limiter.hit(self.rate, who):
            return None
        return self._wait(self.rate, who)

    def failed_key(self, address: str) -> None:
        self.limiter.hit(self.auth_failures, f"auth-failure:{address}")

    def locked_out(self, address: str) -> int | None:
        """Seconds to wait when `address` has used up its failed keys, else None."""
        who = f"auth-failure:{address}"
        if self.limiter.test(self.auth_failures, who):
            return None
        return self._wait(self.auth_failures, who)

    def _wait(self, limit: Any, who: str) -> int:
        reset = self.limiter.get_window_stats(limit, who).reset_time
        return max(1, math.ceil(reset - time.time()))

    def refusal(self, wait: int) -> str:
        return f"rate limit of {self.rate} exceeded; retry in {wait} s"


@dataclass(frozen=True)
class GuardOptions:
    max_body_bytes: int
    body_timeout: float
    allowed_origins: frozenset[str] = frozenset()


class Guard:
    def __init__(
        self,
        app: Any,
        keys: dict[str, Principal],
        limits: Limits,
        options: GuardOptions,
        drain: Drain,
    ) -> None:
        self.app, self.keys, self.limits, self.options = app, keys, limits, options
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            send = _with_headers(send)
        if _is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.drain.active:  # no new work once SIGTERM came; open answers go on
            await _refuse(scope, send, 503, "the server is shutting down; retry", "shutting_down")
            return
        refusal = self._cross_site(scope) or self._admit(scope)
        if refusal is not None:
            await _refuse(scope, send, *refusal)
            return
        if scope["type"] == "http":
            body, status = await _read_body(receive, self.options)
            if status is not None:
                await _refuse(scope, send, *_BODY_REFUSALS[status](self.options))
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    def _cross_site(self, scope: Scope) -> Refusal | None:
        """403 for a write (or a WebSocket) from another site's page; 415 for a body type
        that a cross-site form could send."""
        headers = _headers(scope)
        writes = scope["type"] == "websocket" or scope.get("method") not in SAFE_METHODS
        origin = headers.get("origin")
        if writes and origin is not None and not self._same_site(origin, headers.get("host")):
            return 403, f"requests from {origin[:100]} are not allowed here", "forbidden_origin"
        if scope["type"] == "http" and scope.get("method") not in SAFE_METHODS:
            kind = headers.get("content-type", "").split(";")[0].strip().lower()
            upload = kind == UPLOAD_TYPE and _query(scope).get("filename")
            # No type at all is read as JSON (curl, scripts); a browser sends Origin with it.
            if kind and kind not in BODY_TYPES and not upload:
                message = "send the body as application/json (or JSONL as application/x-ndjson)"
                return 415, message, "unsupported_media_type"
        return None

    def _same_site(self, origin: str, host: str | None) -> bool:
        return origin in self.options.allowed_origins or (
            host is not None and urlsplit(origin).netloc.lower() == host.lower()
        )

    def _admit(self, scope: Scope) -> Refusal | None:
        """The key's principal into the scope's state, or why not (401, 429)."""
        address = (scope.get("client") or ("unknown",))[0]
        if self.keys and (wait := self.limits.locked_out(address)) is not None:
            message = f"too many invalid API keys from this address; retry in {wait} s"
            return 429, message, "rate_limit_exceeded", {"retry-after": wait}
        key = presented_key(scope)
        principal = self.keys.get(key or "") if self.keys else PUBLIC
        if principal is None:
            self.limits.failed_key(address)
            return 401, "missing or invalid API key", "invalid_api_key"
        if (wait := self.limits.hit(key or address)) is not None:
            return 429, self.limits.refusal(wait), "rate_limit_exceeded", {"retry-after": wait}
        state = scope.setdefault("state", {})
        state["api_key"], state["principal"] = key or address, principal
        return None


Refusal = tuple[Any, ...]  # (status, message, code[, headers])
_BODY_REFUSALS = {
    413: lambda o: (
        413,
        f"the request body is over the {o.max_body_bytes // 1024} KB limit",
        "request_too_large",
    ),
    408: lambda o: (
        408,
        f"the request body did not arrive within {o.body_timeout:g} s",
        "request_timeout",
    ),
}


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _query(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


def presented_key(scope: Scope) -> str | None:
    """`Authorization: Bearer KEY` (what OpenAI clients send) or `X-API-Key`; a WebSocket,
    which browsers open without headers, may also give `?api_key=`. No other URL carries a
    key, so keys stay out of links and access logs."""
    headers = _headers(scope)
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    if "x-api-key" in headers:
        return headers["x-api-key"].strip() or None
    if scope["type"] == "websocket":
        return _query(scope).get("api_key") or None
    return None


async def _read_body(receive: Any, options: GuardOptions) -> tuple[list[Any], int | None]:
    """The body's messages, and 413 once it is over the limit or 408 once it is late."""
    messages: list[Any] = []
    size, deadline = 0, time.monotonic() + options.body_timeout
    while True:
        try:
            message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.001))
        except TimeoutError:
            return messages, 408
        messages.append(message)
        size += len(message.get("body", b""))
        if size > options.max_body_bytes:
            return messages, 413
        if message["type"] != "http.request" or not message.get("more_body"):
            return messages, None


def _replay(messages: list[dict[str, Any]], upstream: Any) -> Any:
    """The body already read, then the real channel (which reports a client disconnect)."""
    pending = list(messages)

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        return await upstream()

    return receive


def _with_headers(send: Any) -> Any:
    async def sending(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
        await send(message)

    return sending


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

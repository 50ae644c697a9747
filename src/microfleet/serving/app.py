"""The FastAPI app: one Server (serving/deps.py) behind the guard, errors in the OpenAI shape."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.exceptions import HTTPException

from microfleet.config import Settings
from microfleet.errors import StoreError, UserError, first_line
from microfleet.feedback.store import UnknownResponse
from microfleet.inference.assistant import UnknownModel
from microfleet.inference.runtime import Runtime
from microfleet.llm.generator import BackendUnavailable
from microfleet.serving.access import AccessLog
from microfleet.serving.chat import router as chat_router
from microfleet.serving.deps import Server
from microfleet.serving.drain import Drain, ShuttingDown
from microfleet.serving.feedback import router as feedback_router
from microfleet.serving.playground import add_playground
from microfleet.serving.routes import api_error, router
from microfleet.serving.security import Guard, GuardOptions, Limits
from microfleet.serving.tenancy import parse_api_keys

log = logging.getLogger("microfleet.serving")


def create_app(runtime: Runtime, settings: Settings, owns_runtime: bool = True) -> FastAPI:
    """The API over `runtime`; an app that owns it closes it on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_runtime:
            await runtime.close()

    app = FastAPI(title="microfleet", version="0.1.0", lifespan=lifespan)
    limits = Limits(settings.rate_limit, settings.auth_failure_limit, settings.rate_limit_storage)
    server = Server(runtime, settings, Drain(settings.drain_seconds), limits)
    server.registry.register(_Stats(runtime))
    app.state.server = server
    for kind, handler in _HANDLERS.items():
        app.add_exception_handler(kind, handler)
    app.include_router(router)
    app.include_router(chat_router)
    app.include_router(feedback_router)
    add_playground(app)
    _guard(app, server)
    if server.settings.access_log:  # outermost: refused requests get their line too
        app.add_middleware(AccessLog)
    return app


def _guard(app: FastAPI, server: Server) -> None:
    """The guard in front of every route; CORS, only for the origins configured, before it
    (a browser's preflight carries no key)."""
    settings = server.settings
    options = GuardOptions(
        settings.max_body_kb * 1024, settings.body_timeout_seconds, frozenset(settings.cors_origins)
    )
    keys = parse_api_keys(settings.api_keys_text())
    app.add_middleware(Guard, keys=keys, limits=server.limits, options=options, drain=server.drain)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Session-Id"],
        )


def _json(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse(status_code=status, content=api_error(message, kind))


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    """422 naming the field."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"] if p != "body") or "body"
    return _json(422, f"{where}: {first['msg']}", "invalid_request_error")


async def _http(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's and FastAPI's own errors (an unknown route, a body that is not JSON) in
    the OpenAI shape too."""
    assert isinstance(exc, HTTPException)
    if isinstance(exc.detail, dict):
        return JSONResponse(status_code=exc.status_code, content=exc.detail)
    kinds = {403: "permission_denied", 404: "not_found", 405: "invalid_request_error"}
    return _json(
        exc.status_code, str(exc.detail), kinds.get(exc.status_code, "invalid_request_error")
    )


async def _unknown_model(request: Request, exc: Exception) -> JSONResponse:
    return _json(404, str(exc), "model_not_found")


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return _json(404, str(exc), "not_found")


async def _user_error(request: Request, exc: Exception) -> JSONResponse:
    return _json(400, str(exc), "invalid_request_error")


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, ShuttingDown):
        return _json(503, str(exc), "shutting_down")
    if isinstance(exc, TimeoutError):
        return _json(503, "timed out; retry, or ask for fewer max_tokens", "timeout")
    return _json(503, f"unavailable: {first_line(exc)}", "service_unavailable")


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s: %r", request.url.path, exc)
    return _json(500, "internal error; the server log has the details", "internal_error")


_HANDLERS: dict[Any, Any] = {
    RequestValidationError: _invalid,
    HTTPException: _http,
    UnknownModel: _unknown_model,
    UnknownResponse: _not_found,
    ShuttingDown: _unavailable,
    UserError: _user_error,
    StoreError: _unavailable,
    BackendUnavailable: _unavailable,
    TimeoutError: _unavailable,
    Exception: _internal,
}


class _Stats:
    """/metrics: cache hits and misses, batches, tokens (read from the runtime when scraped)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Any]:
        cache = self.runtime.assistant.cache
        results = CounterMetricFamily(
            "microfleet_cache_lookups", "Answer cache lookups by result", labels=["result"]
        )
        if cache is not None:
            for result, count in cache.stats.__dict__.items():
                results.add_metric([result], count)
        yield results
        engine = self.runtime.engine
        if engine is not None:
            for name, value in engine.stats.__dict__.items():
                yield GaugeMetricFamily(f"microfleet_engine_{name}", f"generation {name}", value)

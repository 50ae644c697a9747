"""The FastAPI app: state, error formatting, and the routes of serving/routes.py."""

from __future__ import annotations

import time

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from microfleet.llm.generator import Generator
from microfleet.serving.routes import api_error, router


def create_app(
    generators: dict[str, Generator], max_tokens_cap: int = 1024, parent: str | None = None
) -> FastAPI:
    """`generators` maps each served model id to its backend; adapters name `parent` as base."""
    app = FastAPI(title="microfleet", version="0.1.0")
    app.state.generators = generators
    app.state.max_tokens_cap = max_tokens_cap
    app.state.parent = parent
    app.state.created = int(time.time())
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http)  # type: ignore[arg-type]
    app.include_router(router)
    return app


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming the field, in the OpenAI error shape."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"] if p != "body")
    body = api_error(f"{where}: {first['msg']}", "invalid_request_error")
    return JSONResponse(status_code=422, content=body)


async def _http(request: Request, exc: HTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, dict) else api_error(str(exc.detail), "error")
    return JSONResponse(status_code=exc.status_code, content=detail)

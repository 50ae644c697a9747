"""The FastAPI app. Route handlers are thin: validate, call the generator, format."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from microfleet.llm.generator import Generator
from microfleet.serving.schemas import ChatMessage, ChatRequest, ChatResponse, Choice, Usage

DEFAULT_MAX_TOKENS = 256


def create_app(
    generators: dict[str, Generator], max_tokens_cap: int = 1024, parent: str | None = None
) -> FastAPI:
    """`generators` maps each served model id to its backend; adapters name `parent` as base."""
    app = FastAPI(title="microfleet", version="0.1.0")
    app.state.generators = generators
    app.state.max_tokens_cap = max_tokens_cap
    created = int(time.time())

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if p != "body")
        return JSONResponse(
            status_code=422, content=_error(f"{where}: {first['msg']}", "invalid_request_error")
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        entries = [
            {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": "microfleet",
                "parent": None if name == parent else parent,
            }
            for name in generators
        ]
        return {"object": "list", "data": entries}

    @app.post("/v1/chat/completions")
    async def chat(
        body: ChatRequest, generator: Annotated[Generator, Depends(_generator)]
    ) -> ChatResponse:
        if body.stream:
            raise HTTPException(400, detail=_error("stream=true is not served yet", "unsupported"))
        if not body.messages or not any(m.content.strip() for m in body.messages):
            raise HTTPException(400, detail=_error("messages are empty", "invalid_request_error"))
        limit = min(
            body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_TOKENS,
            app.state.max_tokens_cap,
        )
        messages = [m.model_dump() for m in body.messages]
        result = await generator.generate(messages, limit, body.temperature)
        return ChatResponse(
            model=body.model,
            choices=[
                Choice(
                    message=ChatMessage(role="assistant", content=result.text),
                    finish_reason=result.finish_reason,
                )
            ],
            usage=Usage(
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                total_tokens=result.prompt_tokens + result.completion_tokens,
            ),
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, dict) else _error(str(exc.detail), "error")
        return JSONResponse(status_code=exc.status_code, content=detail)

    return app


async def _generator(body: ChatRequest, request: Request) -> Generator:
    generators: dict[str, Generator] = request.app.state.generators
    if body.model not in generators:
        known = ", ".join(generators)
        raise HTTPException(
            404, detail=_error(f"unknown model '{body.model}'; known: {known}", "model_not_found")
        )
    return generators[body.model]


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind}}

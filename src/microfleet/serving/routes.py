"""Route handlers: parse, call one generator, format. State comes from `request.app.state`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from microfleet.llm.generator import Generator
from microfleet.serving.schemas import ChatMessage, ChatRequest, ChatResponse, Choice, Usage

DEFAULT_MAX_TOKENS = 256
router = APIRouter()


def api_error(message: str, kind: str) -> dict[str, Any]:
    """The OpenAI error body."""
    return {"error": {"message": message, "type": kind}}


async def pick_generator(body: ChatRequest, request: Request) -> Generator:
    generators: dict[str, Generator] = request.app.state.generators
    if body.model not in generators:
        known = ", ".join(generators)
        message = f"unknown model '{body.model}'; known: {known}"
        raise HTTPException(404, detail=api_error(message, "model_not_found"))
    return generators[body.model]


GeneratorDep = Annotated[Generator, Depends(pick_generator)]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    state = request.app.state
    entries = [
        {
            "id": name,
            "object": "model",
            "created": state.created,
            "owned_by": "microfleet",
            "parent": None if name == state.parent else state.parent,
        }
        for name in state.generators
    ]
    return {"object": "list", "data": entries}


@router.post("/v1/chat/completions")
async def chat(body: ChatRequest, generator: GeneratorDep, request: Request) -> ChatResponse:
    if body.stream:
        raise HTTPException(400, detail=api_error("stream=true is not served yet", "unsupported"))
    if not body.messages or not any(m.content.strip() for m in body.messages):
        raise HTTPException(400, detail=api_error("messages are empty", "invalid_request_error"))
    asked = body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_TOKENS
    limit = min(asked, request.app.state.max_tokens_cap)
    result = await generator.generate(
        [m.model_dump() for m in body.messages], limit, body.temperature
    )
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

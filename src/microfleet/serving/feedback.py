"""POST /v1/feedback: a person's rating of an answer, with an optional better answer. Thin."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from microfleet.errors import UserError
from microfleet.serving.deps import Caller, ServerDep
from microfleet.serving.schemas import FeedbackRequest

router = APIRouter()


@router.post("/v1/feedback", status_code=201)
async def feedback(body: FeedbackRequest, server: ServerDep, who: Caller) -> JSONResponse:
    """201 with the stored entry; 404 for an answer this server never gave."""
    store = server.assistant.answers
    if store is None:
        raise UserError("this server keeps no answers, so it cannot take feedback")
    entry = await asyncio.to_thread(
        store.add, body.response_id, body.rating, body.correction, body.comment, who.tenant
    )
    out: dict[str, Any] = {
        "object": "feedback",
        "id": entry.id,
        "response_id": entry.response.id,
        "rating": entry.rating,
        "model": entry.response.model,
        "micromodels": entry.response.micromodels(),
        "correction": entry.correction,
    }
    return JSONResponse(out, status_code=201)

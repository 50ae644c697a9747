"""The playground: one static page at `/` (plain HTML, CSS and JavaScript; no build step).

The page itself holds no secret, so it is open like the health routes; everything it does
goes through the API with the key the user enters.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB = Path(__file__).parent / "web"
router = APIRouter()


@router.get("/", include_in_schema=False)
async def playground() -> FileResponse:
    return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})


def add_playground(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/web", StaticFiles(directory=WEB), name="web")

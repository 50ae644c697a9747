"""Everything but chat: health, readiness, models, search, ingest, metrics. Thin handlers."""

from __future__ import annotations

import asyncio
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from microfleet.documents.parse import RawRecord
from microfleet.errors import UserError, first_line
from microfleet.features.pipeline import (
    PipelineContext,
    embed_batch,
    prepare_batch,
    write_batch,
)
from microfleet.fleet.orchestrator import Orchestrator
from microfleet.knowledge.service import parse_filter
from microfleet.serving.deps import Caller, ServerDep
from microfleet.serving.schemas import IngestRequest, SearchRequest
from microfleet.serving.tenancy import Principal, require

router = APIRouter()


def api_error(message: str, kind: str) -> dict[str, Any]:
    """The OpenAI error body."""
    return {"error": {"message": message, "type": kind}}


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(server: ServerDep) -> JSONResponse:
    """200 once the models answer and the store opens; 503 with the reason otherwise."""
    runtime = server.runtime
    if server.drain.active:
        return JSONResponse({"status": "draining", "reason": "shutting down"}, status_code=503)
    try:
        chunks = await asyncio.wait_for(asyncio.to_thread(runtime.features.store.count), 5)
        for name, route in runtime.assistant.routes.items():
            if not await asyncio.wait_for(route.generator.ready(), 5):
                raise RuntimeError(f"model '{name}' is not answering")
    except Exception as exc:
        return JSONResponse({"status": "not ready", "reason": first_line(exc)}, status_code=503)
    models = list(runtime.assistant.routes)
    orchestrator = runtime.assistant.orchestrator
    warnings = [] if orchestrator is None else _stand_ins(orchestrator)
    versions = {name: route.version for name, route in runtime.assistant.routes.items()}
    engine = runtime.engine
    body = {
        "status": "ready",
        "engine": engine.decoder.engine if engine else "remote",
        "models": models,
        "versions": versions,
        "chunks": chunks,
        "warnings": warnings,
    }
    return JSONResponse(body)


@router.get("/v1/models")
async def list_models(server: ServerDep) -> dict[str, Any]:
    entries = [
        {
            "id": name,
            "object": "model",
            "created": server.created,
            "owned_by": "microfleet",
            "parent": route.generator.parent,
            "version": route.version,
            **({} if route.champion is None else {"champion": route.champion}),
        }
        for name, route in server.assistant.routes.items()
    ]
    return {"object": "list", "data": entries}


@router.post("/v1/search")
async def search(body: SearchRequest, server: ServerDep, who: Caller) -> dict[str, Any]:
    knowledge = server.assistant.search
    if knowledge is None:
        raise UserError("this server has no knowledge base to search")
    flt = parse_filter(body.since, body.symbols, body.tags).readable_by(server.readers(who))
    query = server.assistant.glossary.expand(body.query)  # "the Fed (Federal Reserve)"
    hits = await asyncio.to_thread(knowledge.search, query, body.k, flt, body.mode)
    return {"object": "list", "data": [hit.as_dict() for hit in hits]}


@router.post("/v1/ingest")
async def ingest(
    request: Request,
    server: ServerDep,
    who: Annotated[Principal, Depends(require("ingest"))],
    filename: str | None = None,
) -> dict[str, Any]:
    """A JSON body `{"documents": [...]}`, JSONL (one document per line), or with
    `?filename=NAME` one file's bytes (any type `ingest` reads: .md, .html, .pdf, .docx,
    .xlsx, .eml, ...), parsed by its name. Needs the `ingest` scope; the documents are owned
    by the key's tenant."""
    raw = await request.body()
    if filename:
        records = _file_records(filename, raw)
    else:
        records = _records(raw, request.headers.get("content-type", ""))
    async with server.ingest_lock:  # one writer at a time
        return await asyncio.to_thread(_run_steps, records, server.runtime.features, who.tenant)


def _records(raw: bytes, content_type: str) -> list[RawRecord]:
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type and "ndjson" not in content_type and "jsonl" not in content_type:
        try:
            body = IngestRequest.model_validate_json(text)
        except ValueError as exc:
            raise UserError(
                f"body: expected {{'documents': [...]}} ({_first_error(exc)})"
            ) from None
        return [RawRecord(ref=f"documents[{i}]", fields=d) for i, d in enumerate(body.documents)]
    records = _jsonl_records(text, "line")
    if not records:
        raise UserError("no documents: send JSONL lines or {'documents': [...]}")
    return records


def _jsonl_records(text: str, label: str) -> list[RawRecord]:
    """One record per non-blank line, named `<label> <line number>`."""
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    return [RawRecord(ref=f"{label} {n}", line=line) for n, line in lines]


def _file_records(filename: str, raw: bytes) -> list[RawRecord]:
    """An uploaded file: a document named `upload/<its name>`, or a JSONL file's lines."""
    name = PurePosixPath(filename.replace("\\", "/")).name
    if not name:
        raise UserError("filename: give the uploaded file's name, such as report.md")
    if name.lower().endswith(".jsonl"):
        records = _jsonl_records(raw.decode("utf-8", errors="replace"), f"{name} line")
        if not records:
            raise UserError(f"{name} has no documents: one JSON object per line")
        return records
    return [RawRecord(ref=name, path=Path("upload", name), content=raw)]


@router.get("/v1/kb/stats")
async def kb_stats(server: ServerDep) -> dict[str, int]:
    """The knowledge base's document and chunk counts."""
    store = server.runtime.features.store
    documents = await asyncio.to_thread(store.count_documents)
    return {"documents": documents, "chunks": await asyncio.to_thread(store.count)}


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc).splitlines()[0]


def _run_steps(records: list[RawRecord], ctx: PipelineContext, owner: str) -> dict[str, Any]:
    batch = prepare_batch(records, ctx, owner)
    failures = [{"ref": f.ref, "reason": f.reason} for f in batch.failures]
    stats = write_batch(embed_batch(batch, ctx), ctx)
    return {**stats.as_dict(), "errors": failures}


@router.get("/metrics")
async def metrics(server: ServerDep) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(server.registry), media_type=CONTENT_TYPE_LATEST)


def _stand_ins(orchestrator: Orchestrator) -> list[str]:
    """What answers for each micromodel that has no adapter."""
    quoted, generated = "its sources' sentences answer", "the base model answers"
    return [
        f"micromodel '{name}' has no adapter in the registry; "
        f"{quoted if orchestrator.quotes(name) else generated} for it"
        for name in orchestrator.missing_adapters()
    ]

"""The feature pipeline end to end on the real models and a real Qdrant Edge shard."""

from __future__ import annotations

import json
from pathlib import Path

from microfleet.config import Settings
from microfleet.core.hits import SearchFilter
from microfleet.features.chunking import chunk_point_id
from microfleet.features.ingest import run_ingest
from microfleet.features.pipeline import PipelineContext
from microfleet.features.sources import resolve_inputs
from microfleet.knowledge.connect import fusion_from
from microfleet.knowledge.search import KnowledgeSearch
from tests.conftest import CORPUS


def _ingest(args: list[str], settings: Settings, ctx: PipelineContext, workers: int = 1):
    return run_ingest(resolve_inputs(args), settings, ctx, workers=workers).stats


def _search(ctx: PipelineContext, settings: Settings) -> KnowledgeSearch:
    return KnowledgeSearch(ctx.store, ctx.embedder, ctx.sparse, fusion_from(settings))


def test_round_trip_then_idempotent(settings: Settings, ctx: PipelineContext) -> None:
    first = _ingest([str(CORPUS)], settings, ctx)
    assert first.documents == 44 and first.failed == 0
    assert ctx.store.count_documents() == 44
    hits = _search(ctx, settings).search("What is the standard VAT rate in Luxembourg?", k=3)
    assert hits[0].doc_id.endswith("vat_rates_eu.md")
    hits = _search(ctx, settings).search("weight loss drug trial", k=3)
    assert hits[0].doc_id == "solace-pharma-trial"

    chunks_before = ctx.store.count()
    second = _ingest([str(CORPUS)], settings, ctx)
    assert second.as_dict() == {"documents": 0, "chunks": 0, "failed": 0, "unchanged": 44}
    assert ctx.store.count() == chunks_before


def test_changed_document_leaves_no_orphans(
    tmp_path: Path, settings: Settings, ctx: PipelineContext
) -> None:
    long_text = " ".join(
        f"Sentence number {i} is about bond yields and inflation." for i in range(120)
    )
    path = tmp_path / "doc.jsonl"
    path.write_text(json.dumps({"id": "report", "title": "Report", "text": long_text}) + "\n")
    _ingest([str(path)], settings, ctx)
    old = ctx.store.count(SearchFilter(doc_ids=("report",)))
    assert old > 2

    path.write_text(
        json.dumps({"id": "report", "title": "Report", "text": "Now one short line."}) + "\n"
    )
    stats = _ingest([str(path)], settings, ctx)
    assert stats.documents == 1 and stats.chunks == 1
    assert sorted(ctx.store.point_ids()) == [chunk_point_id("report", 0)]
    assert ctx.store.payloads()[0]["text"] == "Now one short line."


def test_payload_text_equals_chunk_text_for_every_point(
    settings: Settings, ctx: PipelineContext
) -> None:
    _ingest([str(CORPUS / "vat_rates_eu.md"), str(CORPUS / "news.jsonl")], settings, ctx)
    payloads = ctx.store.payloads()
    assert len(payloads) == ctx.store.count() > 44
    by_doc: dict[str, list[dict]] = {}
    for payload in payloads:
        by_doc.setdefault(payload["doc_id"], []).append(payload)
    vat_doc = next(d for d in by_doc if d.endswith("vat_rates_eu.md"))
    from microfleet.documents.parse import RawRecord, parse_record

    doc = parse_record(RawRecord(ref="v", path=CORPUS / "vat_rates_eu.md"), 10**7)
    expected = [c.text for c in ctx.chunker.chunk_document(doc)]
    stored = [p["text"] for p in sorted(by_doc[vat_doc], key=lambda p: p["chunk_index"])]
    assert stored == expected
    for payload in payloads:
        assert set(payload) >= {
            "text",
            "doc_id",
            "chunk_index",
            "title",
            "url",
            "published_at",
            "source",
            "symbols",
            "tags",
        }


def test_bad_inputs_are_counted_and_dead_lettered(
    tmp_path: Path, settings: Settings, ctx: PipelineContext
) -> None:
    docs = tmp_path / "docs"  # beside the data dir, not around it
    docs.mkdir()
    (docs / "good.md").write_text("# Good\n\nCopper rose on supply worries.\n")
    (docs / "binary.txt").write_bytes(b"\x00\x01\x02\x03")
    (docs / "latin.txt").write_bytes("Prix: 10 \u20ac caf\u00e9".encode("cp1252"))
    (docs / "empty.md").write_text("  \n")
    with (docs / "huge.txt").open("wb") as fh:
        fh.truncate(50_000_000)
    (docs / "mixed.jsonl").write_text(
        '{"id": "ok1", "text": "Gold hit a record."}\nnot json\n{"id": "x"}\n{"text": "no id"}\n'
    )
    (docs / "chart.png").write_bytes(b"\x89PNG\r\n")  # never skipped silently
    (docs / ".good.md.swp").write_bytes(b"editor state")  # hidden: not a document
    stats = _ingest([str(docs)], settings, ctx)
    assert stats.documents == 2
    assert stats.failed == 8
    lines = settings.dead_letter_path.read_text().splitlines()
    assert len(lines) == 8
    reasons = [json.loads(line)["reason"] for line in lines]
    assert all("\n" not in r for r in reasons)
    assert any("50.0 MB" in r for r in reasons) and any("binary" in r for r in reasons)
    assert any(r.startswith("unsupported file type '.png'; supported: ") for r in reasons)


def test_filters_by_symbol_tag_and_date(settings: Settings, ctx: PipelineContext) -> None:
    _ingest([str(CORPUS / "news.jsonl")], settings, ctx)
    search = _search(ctx, settings)
    hits = search.search("earnings", k=5, flt=SearchFilter(symbols=("NWSC",)))
    assert {h.doc_id for h in hits} == {"northwind-q3-earnings"}
    hits = search.search(
        "tax rate", k=10, flt=SearchFilter(tags=("vat",), since="2025-07-01T00:00:00Z")
    )
    assert hits and all("vat" in h.payload["tags"] for h in hits)
    assert all(h.payload["published_at"] >= "2025-07-01" for h in hits)


def test_several_workers_give_the_same_points(settings: Settings, ctx: PipelineContext) -> None:
    stats = _ingest([str(CORPUS / "news.jsonl")], settings, ctx, workers=2)
    assert stats.documents == 43
    ids = ctx.store.point_ids()
    assert len(ids) == len(set(ids)) == stats.chunks

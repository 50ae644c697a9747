"""Every format through the real pipeline: ingested, and a table cell found by search."""

from __future__ import annotations

from pathlib import Path

import pytest

from microfleet.config import Settings
from microfleet.features.ingest import run_ingest
from microfleet.features.pipeline import PipelineContext
from microfleet.features.sources import resolve_inputs
from microfleet.knowledge.connect import fusion_from
from microfleet.knowledge.search import KnowledgeSearch
from tests.documents.formats import HEADER, TABLES, write_all


def test_each_format_is_ingested_and_its_table_cells_are_found(
    tmp_path: Path, settings: Settings, ctx: PipelineContext
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    write_all(docs)
    stats = run_ingest(resolve_inputs([str(docs)]), settings, ctx).stats
    assert (stats.documents, stats.failed) == (len(TABLES), 0)
    search = KnowledgeSearch(ctx.store, ctx.embedder, ctx.sparse, fusion_from(settings))
    for suffix, rows in TABLES.items():
        for project, budget in rows:
            hits = search.search(f"What is the budget for the {project.lower()}?", k=3)
            # The cell's row, under the table's header row, in one chunk of the right file.
            assert any(
                hit.doc_id.endswith(f"budget{suffix}")
                and f"| {project} | {budget} |" in hit.text
                and f"| {HEADER[0]} | {HEADER[1]} |" in hit.text
                for hit in hits
            ), (suffix, project, [hit.text for hit in hits])


@pytest.mark.parametrize("name", ["notes.docx", "slides.pptx", "book.xlsx", "scan.pdf"])
def test_a_broken_file_is_dead_lettered_and_the_rest_goes_through(
    tmp_path: Path, settings: Settings, ctx: PipelineContext, name: str
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    write_all(docs)
    (docs / name).write_bytes(b"\x00\x01 not a real file")
    stats = run_ingest(resolve_inputs([str(docs)]), settings, ctx).stats
    assert (stats.documents, stats.failed) == (len(TABLES), 1)
    (line,) = settings.dead_letter_path.read_text().splitlines()
    assert name in line

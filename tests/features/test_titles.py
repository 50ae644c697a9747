"""The fleet's title rules reach the index: a table that never names its company is found
by a question that does, and the source carries the filing's title."""

from __future__ import annotations

from pathlib import Path

from microfleet.config import Settings
from microfleet.features.ingest import run_ingest
from microfleet.features.pipeline import PipelineContext
from microfleet.features.sources import resolve_inputs
from microfleet.knowledge.connect import fusion_from
from microfleet.knowledge.search import KnowledgeSearch
from tests.documents.test_titles import cover

# A business section long enough that the statement is a chunk of its own, far from the cover.
BUSINESS = "\n\nItem 1. Business\n\n" + " ".join(
    f"The company sells widgets through channel {i} and reviews its pricing every quarter."
    for i in range(40)
)
STATEMENT = (
    "\n\nStatements of Operations\n\n| | 2024 | 2023 |\n|---|---|---|\n"
    "| Total revenue | {a} | {b} |\n| Net income | {c} | {d} |\n"
)


def test_two_companies_identical_tables_are_told_apart_by_their_titles(
    tmp_path: Path, settings: Settings, ctx: PipelineContext
) -> None:
    docs = tmp_path / "filings"
    docs.mkdir()
    figures = {
        "ACME WIDGETS CORPORATION": ("4,100", "3,900", "410", "390"),
        "GLOBEX HOLDINGS, INC.": ("7,700", "7,200", "770", "720"),
    }
    for i, (name, (a, b, c, d)) in enumerate(figures.items()):
        text = cover(name, "10-K", "fiscal year ended December 31, 2024")
        (docs / f"filing-{i}.md").write_text(text + BUSINESS + STATEMENT.format(a=a, b=b, c=c, d=d))
    assert run_ingest(resolve_inputs([str(docs)]), settings, ctx).stats.documents == 2
    search = KnowledgeSearch(ctx.store, ctx.embedder, ctx.sparse, fusion_from(settings))
    for company, revenue in (("Acme Widgets", "4,100"), ("Globex Holdings", "7,700")):
        hits = search.search(f"What was {company}'s total revenue in 2024?", k=3)
        tables = [hit for hit in hits if "| Total revenue |" in hit.text]
        assert tables and revenue in tables[0].text, (company, [h.text for h in hits])
        assert tables[0].payload["title"].startswith(company)
        assert tables[0].payload["title"].endswith(" 10-K, fiscal year ended December 31, 2024")

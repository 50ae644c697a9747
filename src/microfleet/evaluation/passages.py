"""Passage retrieval: is the chunk that answers the question among the top hits?

A labelled row names its document and the evidence an answering chunk holds (a table row's
label and value, or a phrase of a paragraph). A hit counts when it comes from that document
and holds every piece of evidence, so the labels stay valid whatever the chunking. Scores are
given for all questions and per kind ("table", "text"), for hybrid, dense and sparse search.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from microfleet.core.hits import SearchHit
from microfleet.evaluation.retrieval import MODES, mode_hits
from microfleet.knowledge.search import KnowledgeSearch


def evaluate_passages(
    search: KnowledgeSearch,
    rows: list[dict[str, Any]],
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """{"n", "by_kind": {kind: n}, mode: {"all"|kind: {"hit@1", "hit@3", "mrr@10"}}}."""
    vectors = search.embedder.embed([row["question"] for row in rows]).tolist()
    ranks: dict[str, list[tuple[str, int | None]]] = {mode: [] for mode in MODES}
    for index, (row, vector) in enumerate(zip(rows, vectors, strict=True)):
        sparse = search.sparse.embed_query(row["question"])
        for mode in MODES:
            hits = mode_hits(search, mode, vector, sparse, 10)
            ranks[mode].append((row["kind"], answering_rank(hits, row)))
        if progress:
            progress(index + 1)
    kinds = sorted({row["kind"] for row in rows})
    report: dict[str, Any] = {"n": len(rows), "by_kind": {k: _count(rows, k) for k in kinds}}
    for mode in MODES:
        report[mode] = {group: _scores(ranks[mode], group) for group in ["all", *kinds]}
    return report


def answering_rank(hits: list[SearchHit], row: dict[str, Any]) -> int | None:
    """The 1-based rank of the first hit from the row's document holding all its evidence."""
    evidence = [_normal(piece) for piece in row["evidence"]]
    for rank, hit in enumerate(hits, start=1):
        text = _normal(hit.text)
        if hit.doc_id.endswith(row["doc"]) and all(piece in text for piece in evidence):
            return rank
    return None


def _scores(ranks: list[tuple[str, int | None]], group: str) -> dict[str, float]:
    chosen = [rank for kind, rank in ranks if group in ("all", kind)]
    return {
        "hit@1": statistics.fmean(rank == 1 for rank in chosen),
        "hit@3": statistics.fmean(rank is not None and rank <= 3 for rank in chosen),
        "mrr@10": statistics.fmean(1 / rank if rank else 0.0 for rank in chosen),
    }


def _count(rows: list[dict[str, Any]], kind: str) -> int:
    return sum(row["kind"] == kind for row in rows)


def _normal(text: str) -> str:
    return " ".join(text.lower().split())

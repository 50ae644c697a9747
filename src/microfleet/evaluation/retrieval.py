"""`eval retrieval`: hit@1, hit@3, hit@k, MRR@10 and recall@k for hybrid, dense and sparse search.

Questions are embedded in batches (one `embed` call for the whole set) and each query goes to
the store with its precomputed vectors, so 1,000 questions take seconds. Ranks are per
document: a document counts at the rank of its best chunk.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from microfleet.core.glossary import Glossary
from microfleet.core.hits import SearchFilter, SearchHit
from microfleet.evaluation.metrics import document_ranking, hit_at, recall_at, reciprocal_rank
from microfleet.knowledge.search import KnowledgeSearch

MODES = ("hybrid", "dense", "sparse")
CHUNKS_PER_QUERY = 40  # enough chunks for 10 distinct documents in this corpus's chunk sizes


def evaluate_retrieval(
    search: KnowledgeSearch,
    rows: list[dict[str, Any]],
    k: int = 5,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """{"n", "k", "missing_ids", "hybrid": {...}, "dense": {...}, "sparse": {...}}."""
    wanted = {doc for row in rows for doc in row["relevant_ids"]}
    missing = {doc for doc in wanted if search.store.count(SearchFilter(doc_ids=(doc,))) == 0}
    dense = search.embedder.embed([row["question"] for row in rows]).tolist()
    scores: dict[str, dict[str, list[float]]] = {mode: {} for mode in MODES}
    for index, (row, vector) in enumerate(zip(rows, dense, strict=True)):
        sparse = search.sparse.embed_query(row["question"])
        relevant = set(row["relevant_ids"])
        for mode in MODES:
            ranked = _ranked(search, mode, vector, sparse, max(k, 10))
            _score(scores[mode], ranked, relevant, k)
        if progress:
            progress(index + 1)
    report: dict[str, Any] = {"n": len(rows), "k": k, "missing_ids": len(missing)}
    for mode in MODES:
        report[mode] = {name: statistics.fmean(values) for name, values in scores[mode].items()}
    return report


def _ranked(
    search: KnowledgeSearch, mode: str, dense: list[float], sparse: Any, n: int
) -> list[str]:
    hits = mode_hits(search, mode, dense, sparse, CHUNKS_PER_QUERY)
    return document_ranking([hit.doc_id for hit in hits])[:n]


def as_searched(rows: list[dict[str, Any]], glossary: Glossary) -> list[dict[str, Any]]:
    """The labelled rows with each question as the assistant searches it: each short form of
    the fleet's glossary followed by its long form ("buy back (repurchase)")."""
    return [{**row, "question": glossary.expand(row["question"])} for row in rows]


def mode_hits(
    search: KnowledgeSearch, mode: str, dense: list[float], sparse: Any, limit: int
) -> list[SearchHit]:
    """The top chunks for precomputed query vectors, by hybrid, dense or sparse search."""
    vector = dense if mode != "sparse" else None
    lexical = sparse if mode != "dense" and sparse.indices else None
    if vector is None and lexical is None:
        return []  # a question of stopwords only: nothing to match lexically
    return search.store.query(vector, lexical, limit, None, search.fusion)


def _score(into: dict[str, list[float]], ranked: list[str], relevant: set[str], k: int) -> None:
    for name, value in (
        ("hit@1", hit_at(ranked, relevant, 1)),
        ("hit@3", hit_at(ranked, relevant, 3)),
        ("hit@k", hit_at(ranked, relevant, k)),
        ("mrr@10", reciprocal_rank(ranked, relevant, 10)),
        ("recall@k", recall_at(ranked, relevant, k)),
    ):
        into.setdefault(name, []).append(value)

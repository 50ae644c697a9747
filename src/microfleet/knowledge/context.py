"""The context a micromodel sees for a question: hybrid top-k within its scope, above the
similarity floor, as the micromodel contract's context block. Dataset generation, training,
evaluation and serving all call these two functions."""

from __future__ import annotations

from typing import Any

from microfleet.core.hits import SearchFilter, SearchHit
from microfleet.knowledge.search import KnowledgeSearch
from microfleet.micromodel.prompt import (
    CONTEXT_K,
    MIN_SIMILARITY,
    OTHERS_WITHIN,
    context_block,
    source_of,
)


def micromodel_hits(
    search: KnowledgeSearch,
    question: str,
    scope: SearchFilter | None,
    vector: list[float] | None = None,
    k: int = CONTEXT_K,
) -> list[SearchHit]:
    """The chunks a micromodel sees for `question`: hybrid top-k within its scope, above the
    similarity floor. `vector` is the question's embedding when the caller has it already;
    `k` more than the contract's CONTEXT_K is for a reader, not for a model's prompt."""
    if vector is None:
        vector = search.embedder.embed([question])[0].tolist()
    return search.relevant(question, vector, k, MIN_SIMILARITY, scope, OTHERS_WITHIN)


def retrieve_context(
    search: KnowledgeSearch, scope: SearchFilter | None, question: str
) -> tuple[str, list[dict[str, Any]]]:
    """The context block a micromodel is served with for `question`, and its sources."""
    hits = micromodel_hits(search, question, scope)
    return context_block(hits), [source_of(hit) for hit in hits]

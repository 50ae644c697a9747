"""What the CLI and API call for reading the knowledge base."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from microfleet.config import Settings
from microfleet.core.glossary import Glossary
from microfleet.core.hits import SearchFilter
from microfleet.errors import UserError
from microfleet.knowledge.connect import fusion_from, open_store
from microfleet.knowledge.edge import shard_exists
from microfleet.knowledge.embedding import load_embedder
from microfleet.knowledge.search import KnowledgeSearch
from microfleet.knowledge.sparse import Bm25Encoder
from microfleet.micromodel.spec import load_fleet


@contextmanager
def open_search(settings: Settings) -> Iterator[KnowledgeSearch]:
    embedder = load_embedder(
        settings.embedding_model,
        settings.embed_batch_size,
        settings.embedding_runtime,
        settings.model_cache_dir / "onnx",
    )
    store = open_store(settings, embedder.dim)
    try:
        yield KnowledgeSearch(store, embedder, Bm25Encoder(), fusion_from(settings))
    finally:
        store.close()


def fleet_glossary(settings: Settings) -> Glossary:
    """The fleet file's glossary (README: "Glossary"); empty without a fleet file."""
    return Glossary(load_fleet(settings.fleet).glossary if settings.fleet.exists() else None)


def knowledge_stats(settings: Settings) -> dict[str, int]:
    """Counts without loading a model; an empty data dir has nothing in it yet."""
    if not settings.qdrant_url and not shard_exists(settings.shard_dir):
        return {"documents": 0, "chunks": 0}
    store = open_store(settings, None)
    try:
        return {"documents": store.count_documents(), "chunks": store.count()}
    finally:
        store.close()


def optimize_store(settings: Settings) -> bool:
    store = open_store(settings, None)
    try:
        return store.optimize()
    finally:
        store.close()


def parse_filter(since: str | None, symbols: list[str], tags: list[str]) -> SearchFilter:
    """Validate `since` (RFC 3339 or a date) and build a filter. The message names the value
    as both callers call it (the CLI's --since, the API's `since` field)."""
    since_iso = None
    if since:
        try:
            when = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise UserError(f"since: '{since}' is not a date; use YYYY-MM-DD or RFC 3339") from None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        since_iso = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return SearchFilter(since=since_iso, symbols=tuple(symbols), tags=tuple(tags))

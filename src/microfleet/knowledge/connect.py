"""How to connect: an Edge shard under the data dir, or a Qdrant server when a URL is set."""

from __future__ import annotations

from typing import Any

from microfleet.config import Settings
from microfleet.knowledge.store import Fusion, VectorStore


def open_store(settings: Settings, dim: int | None) -> VectorStore:
    """`dim=None` opens an existing store without a model loaded (stats, maintenance)."""
    if settings.qdrant_url:
        from microfleet.knowledge.remote import QdrantServerStore

        return QdrantServerStore(qdrant_client(settings), settings.collection, dim)
    from microfleet.knowledge.edge import EdgeVectorStore

    return EdgeVectorStore(settings.shard_dir, dim)


def fusion_from(settings: Settings) -> Fusion:
    return Fusion(
        method=settings.fusion,
        rrf_k=settings.rrf_k,
        weights=(settings.dense_weight, settings.sparse_weight),
        prefetch_limit=settings.prefetch_limit,
    )


def qdrant_client(settings: Settings) -> Any:
    """A client of the Qdrant server at MICROFLEET_QDRANT_URL (knowledge base, answer cache)."""
    from qdrant_client import QdrantClient

    key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    return QdrantClient(url=settings.qdrant_url, api_key=key)

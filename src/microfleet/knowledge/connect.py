"""How to connect: an Edge shard under the data dir, or a Qdrant server when a URL is set."""

from __future__ import annotations

from microfleet.config import Settings
from microfleet.knowledge.store import Fusion, VectorStore


def open_store(settings: Settings, dim: int | None) -> VectorStore:
    """`dim=None` opens an existing store without a model loaded (stats, maintenance)."""
    if settings.qdrant_url:
        from qdrant_client import QdrantClient

        from microfleet.knowledge.remote import QdrantServerStore

        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        client = QdrantClient(url=settings.qdrant_url, api_key=key)
        return QdrantServerStore(client, settings.collection, dim)
    from microfleet.knowledge.edge import EdgeVectorStore

    return EdgeVectorStore(settings.shard_dir, dim)


def fusion_from(settings: Settings) -> Fusion:
    return Fusion(
        method=settings.fusion,
        rrf_k=settings.rrf_k,
        weights=(settings.dense_weight, settings.sparse_weight),
        prefetch_limit=settings.prefetch_limit,
    )

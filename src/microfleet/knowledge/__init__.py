"""The knowledge base: a VectorStore seam (Qdrant Edge or a Qdrant server) and hybrid search."""

from microfleet.core.hits import SearchFilter, SearchHit
from microfleet.knowledge.store import ChunkPoint, VectorStore

__all__ = ["ChunkPoint", "SearchFilter", "SearchHit", "VectorStore"]

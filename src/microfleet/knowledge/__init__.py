"""The knowledge base: a VectorStore seam (Qdrant Edge or a Qdrant server) and hybrid search."""

from microfleet.knowledge.store import ChunkPoint, SearchFilter, SearchHit, VectorStore

__all__ = ["ChunkPoint", "SearchFilter", "SearchHit", "VectorStore"]

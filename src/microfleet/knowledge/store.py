"""The VectorStore seam: how the feature pipeline writes and how search reads."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Literal

from microfleet.core.hits import SearchFilter, SearchHit
from microfleet.knowledge.sparse import SparseVec

DENSE = "dense"
SPARSE = "bm25"
KEYWORD_FIELDS = ("doc_id", "doc_hash", "symbols", "tags", "source", "owner")


@dataclass
class ChunkPoint:
    """One point: a deterministic id, both vectors, and the chunk's payload (text included)."""

    id: str
    dense: list[float]
    sparse: SparseVec
    payload: dict[str, Any]


@dataclass(frozen=True)
class Fusion:
    method: Literal["rrf", "weighted_rrf", "dbsf"] = "rrf"
    rrf_k: int = 60
    weights: tuple[float, float] = (1.0, 1.0)  # (dense, sparse), for weighted_rrf
    prefetch_limit: int = 40


class VectorStore(ABC):
    """Default: EdgeVectorStore. Scale-out: QdrantServerStore. Writes are durable on return."""

    durable_writes: bool = True

    @abstractmethod
    def upsert(self, points: list[ChunkPoint]) -> None:
        """Insert or replace points; returns once the write is durable."""

    @abstractmethod
    def delete_stale(self, doc_id: str, keep_hash: str) -> None:
        """Delete the document's points whose `doc_hash` differs from `keep_hash` (orphans)."""

    @abstractmethod
    def count(self, flt: SearchFilter | None = None, doc_hash: str | None = None) -> int:
        """Points matching the filter (and, if given, the document hash)."""

    @abstractmethod
    def query(
        self,
        dense: list[float] | None,
        sparse: SparseVec | None,
        k: int,
        flt: SearchFilter | None = None,
        fusion: Fusion | None = None,
    ) -> list[SearchHit]:
        """Best first. With both vectors, fuse prefetches in the engine; with one, use it alone."""

    @abstractmethod
    def count_documents(self) -> int:
        """Distinct documents (each has exactly one chunk 0)."""

    @abstractmethod
    def scroll_all(self, with_payload: bool) -> list[tuple[str, dict[str, Any]]]:
        """Every point as (id, payload); the payload is empty unless asked for."""

    def point_ids(self) -> list[str]:
        """Every point id (for audits and tests; scrolls the whole collection)."""
        return [point_id for point_id, _ in self.scroll_all(with_payload=False)]

    def payloads(self) -> list[dict[str, Any]]:
        """Every point's payload (for audits and tests)."""
        return [payload for _, payload in self.scroll_all(with_payload=True)]

    def flush(self) -> None:  # noqa: B027 - a capability with a do-nothing default
        """Persist buffered writes (an embedded store); a server persists on its own."""

    def optimize(self) -> bool:
        """Build the vector index now; False where the engine does it by itself (a server)."""
        return False

    def optimize_if_backlogged(self) -> bool:
        """`optimize` only when many points are still unindexed (run after an ingest)."""
        return False

    def version(self) -> str:
        """Changes whenever the contents may have changed (it keys the answer cache)."""
        return str(self.count())

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files or connections."""

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hit_from_payload(point_id: object, score: float, payload: dict[str, Any] | None) -> SearchHit:
    payload = payload or {}
    return SearchHit(
        doc_id=str(payload.get("doc_id", "")),
        chunk_id=str(point_id),
        score=float(score),
        title=str(payload.get("title", "")),
        url=payload.get("url"),
        text=str(payload.get("text", "")),
        payload=payload,
    )

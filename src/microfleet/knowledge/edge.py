"""Qdrant Edge: the real Qdrant engine in-process, persisted with a WAL under the data dir."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from microfleet.core.hits import SearchFilter, SearchHit
from microfleet.errors import StoreError
from microfleet.knowledge.sparse import SparseVec
from microfleet.knowledge.store import (
    DENSE,
    KEYWORD_FIELDS,
    SPARSE,
    ChunkPoint,
    Fusion,
    VectorStore,
    hit_from_payload,
)

# Build the HNSW index in the background of an ingest only once this many points wait for it.
OPTIMIZE_BACKLOG = 20_000
# A write counter next to the shard: the knowledge-base version the answer cache is keyed by.
VERSION_FILE = "microfleet_version"


class EdgeVectorStore(VectorStore):
    def __init__(self, path: Path, dim: int | None) -> None:
        """Open the shard at `path`, creating it if needed; `dim=None` opens an existing one."""
        self.path = path
        self._lock = threading.Lock()
        try:
            if shard_exists(path):
                self.shard = qe.EdgeShard.load(str(path), _config(dim) if dim else None)
            elif dim is None:
                raise StoreError(f"no knowledge base at {path}; run `microfleet ingest` first")
            else:
                self.shard = self._create(path, dim)
            self._writes = _read_counter(path / VERSION_FILE)
        except StoreError:
            raise
        except Exception as exc:  # the binding raises plain exceptions with the engine's text
            raise StoreError(
                f"cannot open the Qdrant Edge shard at {path}: {str(exc).splitlines()[0]}; "
                "is another microfleet process using it? (or delete it to start over)"
            ) from None

    @staticmethod
    def _create(path: Path, dim: int) -> qe.EdgeShard:
        path.mkdir(parents=True, exist_ok=True)
        shard = qe.EdgeShard.create(str(path), _config(dim))
        for name in KEYWORD_FIELDS:
            shard.update(qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Keyword))
        for name, kind in (
            ("published_at", qe.PayloadSchemaType.Datetime),
            ("chunk_index", qe.PayloadSchemaType.Integer),
        ):
            shard.update(qe.UpdateOperation.create_field_index(name, kind))
        return shard

    def upsert(self, points: list[ChunkPoint]) -> None:
        if not points:
            return
        edge_points = [
            qe.Point(
                p.id,
                {DENSE: p.dense, SPARSE: qe.SparseVector(p.sparse.indices, p.sparse.values)},
                p.payload,
            )
            for p in points
        ]
        with self._lock:
            # One operation is one WAL record: a batch is applied whole on replay or not at all.
            self.shard.update(qe.UpdateOperation.upsert_points(edge_points))
            self._bump()

    def delete_stale(self, doc_id: str, keep_hash: str) -> None:
        flt = qe.Filter(
            must=[qe.FieldCondition("doc_id", match=qe.MatchValue(doc_id))],
            must_not=[qe.FieldCondition("doc_hash", match=qe.MatchValue(keep_hash))],
        )
        with self._lock:
            self.shard.update(qe.UpdateOperation.delete_points_by_filter(flt))
            self._bump()

    def _bump(self) -> None:
        """Count the write; the file is replaced whole, so a kill never leaves it empty."""
        self._writes += 1
        partial = self.path / f"{VERSION_FILE}.tmp"
        partial.write_text(str(self._writes))
        os.replace(partial, self.path / VERSION_FILE)

    def version(self) -> str:
        return f"{self._writes}:{self.count()}"

    def count(self, flt: SearchFilter | None = None, doc_hash: str | None = None) -> int:
        edge_filter = to_edge_filter(flt, doc_hash)
        return int(self.shard.count(qe.CountRequest(exact=True, filter=edge_filter)))

    def count_documents(self) -> int:
        first = qe.Filter(must=[qe.FieldCondition("chunk_index", match=qe.MatchValue(0))])
        return int(self.shard.count(qe.CountRequest(exact=True, filter=first)))

    def query(
        self,
        dense: list[float] | None,
        sparse: SparseVec | None,
        k: int,
        flt: SearchFilter | None = None,
        fusion: Fusion | None = None,
    ) -> list[SearchHit]:
        edge_filter = to_edge_filter(flt)
        request = _request(dense, sparse, k, edge_filter, fusion or Fusion())
        points = self.shard.query(request)
        return [hit_from_payload(p.id, p.score, p.payload) for p in points]

    def scroll_all(self, with_payload: bool) -> list[tuple[str, dict[str, Any]]]:
        records: list[tuple[str, dict[str, Any]]] = []
        offset = None
        while True:
            batch, offset = self.shard.scroll(
                qe.ScrollRequest(offset=offset, limit=1000, with_payload=with_payload)
            )
            records.extend((str(r.id), dict(r.payload or {})) for r in batch)
            if offset is None:
                return records

    def flush(self) -> None:
        with self._lock:
            self.shard.flush()

    def optimize_if_backlogged(self) -> bool:
        """Build the HNSW index when many points are still unindexed (slow: run after ingest)."""
        info = self.shard.info()
        if info.points_count - info.indexed_vectors_count < OPTIMIZE_BACKLOG:
            return False
        with self._lock:
            return bool(self.shard.optimize())

    def optimize(self) -> bool:
        with self._lock:
            return bool(self.shard.optimize())

    def close(self) -> None:
        with self._lock:
            self.shard.flush()
            self.shard.close()


def _read_counter(path: Path) -> int:
    """The write count; a missing or unreadable file (from before writes were atomic)
    restarts at a value no earlier version used, so no cached answer outlives it."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return time.time_ns() // 1_000_000 if path.parent.exists() else 0


def shard_exists(path: Path) -> bool:
    return (path / "edge_config.json").exists()


def _config(dim: int) -> qe.EdgeConfig:
    return qe.EdgeConfig(
        vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
    )


def to_edge_filter(flt: SearchFilter | None, doc_hash: str | None = None) -> qe.Filter | None:
    must: list[Any] = []
    if flt is not None:
        if flt.since:
            must.append(qe.FieldCondition("published_at", range=qe.RangeDateTime(gte=flt.since)))
        for key, values in (("symbols", flt.symbols), ("tags", flt.tags), ("doc_id", flt.doc_ids)):
            if values:
                must.append(qe.FieldCondition(key, match=qe.MatchAny(list(values))))
    if doc_hash is not None:
        must.append(qe.FieldCondition("doc_hash", match=qe.MatchValue(doc_hash)))
    should = _owner_conditions(flt)
    return qe.Filter(must=must, should=should or None) if must or should else None


def _owner_conditions(flt: SearchFilter | None) -> list[Any]:
    """Any of them must hold: the owner is one of those named, or (for OPERATOR) none."""
    if flt is None or not flt.owners:
        return []
    named, unowned = flt.owned()
    conditions: list[Any] = [qe.FieldCondition("owner", match=qe.MatchAny(named))] if named else []
    return conditions + ([qe.IsEmptyCondition("owner")] if unowned else [])


def _request(
    dense: list[float] | None,
    sparse: SparseVec | None,
    k: int,
    flt: qe.Filter | None,
    fusion: Fusion,
) -> qe.QueryRequest:
    dense_q = qe.Query.Nearest(dense, using=DENSE) if dense is not None else None
    sparse_q = (
        qe.Query.Nearest(qe.SparseVector(sparse.indices, sparse.values), using=SPARSE)
        if sparse is not None
        else None
    )
    if dense_q is None or sparse_q is None:
        single = dense_q or sparse_q
        return qe.QueryRequest(limit=k, query=single, filter=flt, with_payload=True)
    prefetches = [
        qe.Prefetch(limit=max(k, fusion.prefetch_limit), query=q, filter=flt)
        for q in (dense_q, sparse_q)
    ]
    return qe.QueryRequest(
        limit=k, prefetches=prefetches, query=_fusion(fusion), filter=flt, with_payload=True
    )


def _fusion(fusion: Fusion) -> Any:
    if fusion.method == "dbsf":
        return qe.Fusion.Dbsf()
    weights = list(fusion.weights) if fusion.method == "weighted_rrf" else None
    return qe.Fusion.Rrf(k=fusion.rrf_k, weights=weights)

"""A Qdrant server or cluster through qdrant-client (the same API as its local mode)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client import models as qm
from qdrant_client.http.exceptions import UnexpectedResponse

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


class QdrantServerStore(VectorStore):
    """Writes use `wait=True`, so they are acknowledged once the server has applied them."""

    def __init__(self, client: QdrantClient, collection: str, dim: int | None) -> None:
        self.client = client
        self.collection = collection
        try:
            if not client.collection_exists(collection):
                if dim is None:
                    raise StoreError(
                        f"no collection '{collection}' on the Qdrant server; "
                        "run `microfleet ingest` first"
                    )
                self._create(dim)
        except (UnexpectedResponse, ConnectionError, OSError) as exc:
            raise StoreError(
                f"cannot reach Qdrant: {str(exc).splitlines()[0]}; check MICROFLEET_QDRANT_URL"
            ) from None

    def _create(self, dim: int) -> None:
        self.client.create_collection(
            self.collection,
            vectors_config={DENSE: qm.VectorParams(size=dim, distance=qm.Distance.COSINE)},
            sparse_vectors_config={SPARSE: qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
        )
        for name in KEYWORD_FIELDS:
            self.client.create_payload_index(self.collection, name, qm.PayloadSchemaType.KEYWORD)
        self.client.create_payload_index(
            self.collection, "published_at", qm.PayloadSchemaType.DATETIME
        )
        self.client.create_payload_index(
            self.collection, "chunk_index", qm.PayloadSchemaType.INTEGER
        )

    def upsert(self, points: list[ChunkPoint]) -> None:
        if not points:
            return
        structs = [
            qm.PointStruct(
                id=p.id,
                vector={
                    DENSE: p.dense,
                    SPARSE: qm.SparseVector(indices=p.sparse.indices, values=p.sparse.values),
                },
                payload=p.payload,
            )
            for p in points
        ]
        self.client.upsert(self.collection, points=structs, wait=True)

    def delete_stale(self, doc_id: str, keep_hash: str) -> None:
        flt = qm.Filter(
            must=[qm.FieldCondition(key="doc_id", match=qm.MatchValue(value=doc_id))],
            must_not=[qm.FieldCondition(key="doc_hash", match=qm.MatchValue(value=keep_hash))],
        )
        self.client.delete(
            self.collection, points_selector=qm.FilterSelector(filter=flt), wait=True
        )

    def count(self, flt: SearchFilter | None = None, doc_hash: str | None = None) -> int:
        result = self.client.count(self.collection, count_filter=to_qdrant_filter(flt, doc_hash))
        return int(result.count)

    def count_documents(self) -> int:
        first = qm.Filter(must=[qm.FieldCondition(key="chunk_index", match=qm.MatchValue(value=0))])
        return int(self.client.count(self.collection, count_filter=first).count)

    def query(
        self,
        dense: list[float] | None,
        sparse: SparseVec | None,
        k: int,
        flt: SearchFilter | None = None,
        fusion: Fusion | None = None,
    ) -> list[SearchHit]:
        fusion = fusion or Fusion()
        qfilter = to_qdrant_filter(flt)
        sparse_q = qm.SparseVector(indices=sparse.indices, values=sparse.values) if sparse else None
        if dense is None or sparse_q is None:
            using = DENSE if dense is not None else SPARSE
            response = self.client.query_points(
                self.collection,
                query=dense or sparse_q,
                using=using,
                limit=k,
                query_filter=qfilter,
                with_payload=True,
            )
        else:
            limit = max(k, fusion.prefetch_limit)
            prefetch = [
                qm.Prefetch(query=dense, using=DENSE, limit=limit, filter=qfilter),
                qm.Prefetch(query=sparse_q, using=SPARSE, limit=limit, filter=qfilter),
            ]
            response = self.client.query_points(
                self.collection,
                prefetch=prefetch,
                query=_fusion(fusion),
                limit=k,
                query_filter=qfilter,
                with_payload=True,
            )
        return [hit_from_payload(p.id, p.score, p.payload) for p in response.points]

    def scroll_all(self, with_payload: bool) -> list[tuple[str, dict[str, Any]]]:
        records: list[tuple[str, dict[str, Any]]] = []
        offset = None
        while True:
            batch, offset = self.client.scroll(
                self.collection, limit=1000, offset=offset, with_payload=with_payload
            )
            records.extend((str(r.id), dict(r.payload or {})) for r in batch)
            if offset is None:
                return records

    def close(self) -> None:
        self.client.close()


def to_qdrant_filter(flt: SearchFilter | None, doc_hash: str | None = None) -> qm.Filter | None:
    must: list[Any] = []
    if flt is not None:
        if flt.since:
            must.append(
                qm.FieldCondition(
                    key="published_at", range=qm.DatetimeRange(gte=_parse_time(flt.since))
                )
            )
        for key, values in (("symbols", flt.symbols), ("tags", flt.tags), ("doc_id", flt.doc_ids)):
            if values:
                must.append(qm.FieldCondition(key=key, match=qm.MatchAny(any=list(values))))
    if doc_hash is not None:
        must.append(qm.FieldCondition(key="doc_hash", match=qm.MatchValue(value=doc_hash)))
    should = _owner_conditions(flt)
    return qm.Filter(must=must, should=should or None) if must or should else None


def _owner_conditions(flt: SearchFilter | None) -> list[Any]:
    """Any of them must hold: the owner is one of those named, or (for OPERATOR) none."""
    if flt is None or not flt.owners:
        return []
    named, unowned = flt.owned()
    conditions: list[Any] = []
    if named:
        conditions.append(qm.FieldCondition(key="owner", match=qm.MatchAny(any=named)))
    if unowned:
        conditions.append(qm.IsEmptyCondition(is_empty=qm.PayloadField(key="owner")))
    return conditions


def _fusion(fusion: Fusion) -> Any:
    if fusion.method == "dbsf":
        return qm.FusionQuery(fusion=qm.Fusion.DBSF)
    if fusion.method == "weighted_rrf":
        return qm.RrfQuery(rrf=qm.Rrf(k=fusion.rrf_k, weights=list(fusion.weights)))
    return qm.RrfQuery(rrf=qm.Rrf(k=fusion.rrf_k))


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))

"""The answer cache: an exact tier (hash of the normalised request), then a semantic tier.

Entries live in a Qdrant collection (an Edge shard under the data dir by default, a collection
on the Qdrant server when one is configured). Every lookup is scoped by tenant, model (adapter
version included), knowledge-base version, the code that answered (a hash of the package's
source, so that an upgrade never serves what older code said), the earlier turns, and a
guard: the question's negations, numbers, comparisons and opposites (core/questions.py).
"Is X allowed" and "is X not allowed", or "the lowest rate" and "the highest rate", embed
almost identically, but their guards differ, so one never answers the other.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microfleet.core.questions import contrast_marks

log = logging.getLogger("microfleet.cache")
SCOPE_FIELDS = ("tenant", "model", "kb_version", "context", "guard")
_NAMESPACE = uuid.UUID("0b6f5f0e-58c1-4a53-9a3c-2f4f0c8d6a11")


class CacheIndex(ABC):
    """Default: EdgeCacheIndex. Scale-out: QdrantCacheIndex (a collection on the server)."""

    @abstractmethod
    def get(self, point_id: str) -> dict[str, Any] | None:
        """The payload stored under `point_id`, if any."""

    @abstractmethod
    def put(self, point_id: str, vector: list[float], payload: dict[str, Any]) -> None:
        """Insert or replace one entry."""

    @abstractmethod
    def nearest(
        self, vector: list[float], scope: dict[str, str], not_before: float, threshold: float
    ) -> dict[str, Any] | None:
        """The payload of the most similar entry within `scope`, if it reaches `threshold`."""

    def close(self) -> None:
        return None


def normalize(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(" ?.!")


@functools.cache
def code_version() -> str:
    """A hash of this package's source files: answers cached by other code are not served."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parents[1].rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def guard(question: str) -> str:
    """What must match exactly for a semantic hit: the negations, numbers, comparisons,
    sides and series members that change a question's meaning but not its embedding."""
    return " ".join(sorted(contrast_marks(question)))


@dataclass(frozen=True)
class CacheKey:
    tenant: str
    model: str
    kb_version: str
    earlier: str  # the turns before the question (history included), serialised
    question: str
    params: str  # what else shapes the answer: max_tokens, rag on/off, filters

    def scope(self) -> dict[str, str]:
        shaped = f"{self.earlier}\x00{self.params}\x00{code_version()}"
        context = hashlib.sha256(shaped.encode()).hexdigest()[:32]
        return {
            "tenant": self.tenant,
            "model": self.model,
            "kb_version": self.kb_version,
            "context": context,
            "guard": guard(self.question),
        }

    def exact_id(self) -> str:
        return str(uuid.uuid5(_NAMESPACE, json.dumps([self.scope(), normalize(self.question)])))


@dataclass
class CacheStats:
    exact_hits: int = 0
    semantic_hits: int = 0
    misses: int = 0
    bypassed: int = 0
    errors: int = 0  # the cache store failed; the answer was generated instead


@dataclass
class SemanticCache:
    index: CacheIndex
    ttl_seconds: float = 3600.0
    threshold: float = 0.95
    stats: CacheStats = field(default_factory=CacheStats)

    def lookup(
        self, key: CacheKey, vector: Callable[[], list[float]]
    ) -> tuple[str, dict[str, Any]] | None:
        """("exact" | "semantic", answer) or None; `vector` is called only past the exact tier.

        A cache that fails is a miss (counted in `errors`), never a failed answer.
        """
        try:
            return self._lookup(key, vector)
        except Exception as exc:
            self.stats.errors += 1
            log.warning("answer cache lookup failed: %s", exc)
            return None

    def _lookup(
        self, key: CacheKey, vector: Callable[[], list[float]]
    ) -> tuple[str, dict[str, Any]] | None:
        not_before = time.time() - self.ttl_seconds
        entry = self.index.get(key.exact_id())
        if entry is not None and entry.get("created_at", 0) >= not_before:
            self.stats.exact_hits += 1
            return "exact", json.loads(entry["answer"])
        entry = self.index.nearest(vector(), key.scope(), not_before, self.threshold)
        if entry is not None:
            self.stats.semantic_hits += 1
            return "semantic", json.loads(entry["answer"])
        self.stats.misses += 1
        return None

    def store(self, key: CacheKey, vector: list[float], answer: dict[str, Any]) -> None:
        payload = {**key.scope(), "created_at": time.time(), "answer": json.dumps(answer)}
        try:
            self.index.put(key.exact_id(), vector, payload)
        except Exception as exc:
            self.stats.errors += 1
            log.warning("answer cache write failed: %s", exc)


class EdgeCacheIndex(CacheIndex):
    """A Qdrant Edge shard of its own next to the knowledge base."""

    def __init__(self, path: Path, dim: int) -> None:
        import threading

        import qdrant_edge as qe

        self._qe, self._lock = qe, threading.Lock()
        from microfleet.knowledge.edge import shard_exists

        if shard_exists(path):
            self.shard = qe.EdgeShard.load(str(path), None)
            return
        path.mkdir(parents=True, exist_ok=True)
        config = qe.EdgeConfig(
            vectors={"q": qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)}
        )
        self.shard = qe.EdgeShard.create(str(path), config)
        for name in SCOPE_FIELDS:
            index = qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Keyword)
            self.shard.update(index)
        self.shard.update(
            qe.UpdateOperation.create_field_index("created_at", qe.PayloadSchemaType.Float)
        )

    def get(self, point_id: str) -> dict[str, Any] | None:
        records = self.shard.retrieve([point_id], True, False)
        return dict(records[0].payload or {}) if records else None

    def put(self, point_id: str, vector: list[float], payload: dict[str, Any]) -> None:
        point = self._qe.Point(point_id, {"q": vector}, payload)
        with self._lock:
            self.shard.update(self._qe.UpdateOperation.upsert_points([point]))

    def nearest(
        self, vector: list[float], scope: dict[str, str], not_before: float, threshold: float
    ) -> dict[str, Any] | None:
        qe = self._qe
        must = [qe.FieldCondition(k, match=qe.MatchValue(v)) for k, v in scope.items()]
        must.append(qe.FieldCondition("created_at", range=qe.RangeFloat(gte=not_before)))
        request = qe.QueryRequest(
            limit=1,
            query=qe.Query.Nearest(vector, using="q"),
            filter=qe.Filter(must=must),
            with_payload=True,
            score_threshold=threshold,
        )
        points = self.shard.query(request)
        return dict(points[0].payload or {}) if points else None

    def close(self) -> None:
        with self._lock:
            self.shard.flush()
            self.shard.close()


class QdrantCacheIndex(CacheIndex):
    """A collection on a Qdrant server or cluster (qdrant-client)."""

    def __init__(self, client: Any, collection: str, dim: int) -> None:
        from qdrant_client import models as qm

        self.client, self.collection, self._qm = client, collection, qm
        if not client.collection_exists(collection):
            client.create_collection(
                collection, vectors_config=qm.VectorParams(size=dim, distance=qm.Distance.COSINE)
            )
            for name in SCOPE_FIELDS:
                client.create_payload_index(collection, name, qm.PayloadSchemaType.KEYWORD)
            client.create_payload_index(collection, "created_at", qm.PayloadSchemaType.FLOAT)

    def get(self, point_id: str) -> dict[str, Any] | None:
        records = self.client.retrieve(self.collection, [point_id], with_payload=True)
        return dict(records[0].payload or {}) if records else None

    def put(self, point_id: str, vector: list[float], payload: dict[str, Any]) -> None:
        point = self._qm.PointStruct(id=point_id, vector=vector, payload=payload)
        self.client.upsert(self.collection, [point], wait=True)

    def nearest(
        self, vector: list[float], scope: dict[str, str], not_before: float, threshold: float
    ) -> dict[str, Any] | None:
        qm = self._qm
        must: list[Any] = [
            qm.FieldCondition(key=k, match=qm.MatchValue(value=v)) for k, v in scope.items()
        ]
        must.append(qm.FieldCondition(key="created_at", range=qm.Range(gte=not_before)))
        response = self.client.query_points(
            self.collection,
            query=vector,
            query_filter=qm.Filter(must=must),
            limit=1,
            with_payload=True,
            score_threshold=threshold,
        )
        return dict(response.points[0].payload or {}) if response.points else None

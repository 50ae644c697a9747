"""The scale-out store against qdrant-client's local mode (the same client API as a server)."""

from __future__ import annotations

from pathlib import Path

from qdrant_client import QdrantClient

from microfleet.core.hits import SearchFilter
from microfleet.features.chunking import chunk_point_id
from microfleet.knowledge.embedding import load_embedder
from microfleet.knowledge.remote import QdrantServerStore
from microfleet.knowledge.sparse import Bm25Encoder
from microfleet.knowledge.store import ChunkPoint, Fusion

TEXTS = {
    "vat": "Luxembourg has the lowest standard VAT rate in the European Union at 17 percent.",
    "oil": "Brent crude rose after OPEC+ paused planned output increases.",
    "gold": "Gold set a record above 4,000 dollars an ounce on central bank buying.",
}


def _points(version: str = "v1") -> list[ChunkPoint]:
    embedder, bm25 = load_embedder(None), Bm25Encoder()
    dense = embedder.embed(list(TEXTS.values())).tolist()
    sparse = bm25.embed_documents(list(TEXTS.values()))
    return [
        ChunkPoint(
            chunk_point_id(key, 0),
            dense[i],
            sparse[i],
            {
                "doc_id": key,
                "chunk_index": 0,
                "doc_hash": version,
                "text": text,
                "title": key,
                "url": None,
                "symbols": ["XAU"] if key == "gold" else [],
                "tags": [],
                "published_at": "2025-10-08T00:00:00Z",
            },
        )
        for i, (key, text) in enumerate(TEXTS.items())
    ]


def test_hybrid_query_filters_and_orphans(tmp_path: Path) -> None:
    store = QdrantServerStore(QdrantClient(path=str(tmp_path / "qdrant")), "knowledge", 384)
    store.upsert(_points())
    assert store.count() == 3 and store.count_documents() == 3

    embedder, bm25 = load_embedder(None), Bm25Encoder()
    query = "cheapest VAT in the EU"
    dense = embedder.embed([query])[0].tolist()
    for method in ("rrf", "weighted_rrf", "dbsf"):
        hits = store.query(dense, bm25.embed_query(query), 2, fusion=Fusion(method=method))
        assert hits[0].doc_id == "vat", method
    only_gold = store.query(dense, None, 3, SearchFilter(symbols=("XAU",)))
    assert [h.doc_id for h in only_gold] == ["gold"]

    store.delete_stale("oil", keep_hash="v2")
    assert store.count(SearchFilter(doc_ids=("oil",))) == 0
    assert sorted(store.point_ids()) == sorted(
        [chunk_point_id("vat", 0), chunk_point_id("gold", 0)]
    )
    store.close()

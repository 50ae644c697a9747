from __future__ import annotations

from pathlib import Path

from microfleet.core.hits import SearchFilter
from microfleet.knowledge.edge import EdgeVectorStore
from microfleet.knowledge.sparse import SparseVec
from microfleet.knowledge.store import ChunkPoint


def test_points_survive_reopening_and_sparse_only_query(tmp_path: Path) -> None:
    point = ChunkPoint(
        "00000000-0000-0000-0000-000000000001",
        [1.0, 0.0, 0.0],
        SparseVec([7, 9], [1.0, 2.0]),
        {"doc_id": "a", "chunk_index": 0, "doc_hash": "h", "text": "t"},
    )
    with EdgeVectorStore(tmp_path / "shard", 3) as store:
        store.upsert([point])
    with EdgeVectorStore(tmp_path / "shard", 3) as store:
        assert store.count(SearchFilter(doc_ids=("a",)), doc_hash="h") == 1
        hits = store.query(None, SparseVec([9], [1.0]), 5)
        assert [h.doc_id for h in hits] == ["a"]

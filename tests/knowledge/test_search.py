"""KnowledgeSearch: the relevance floor, and a store that goes away mid-flight."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from microfleet.errors import StoreError
from microfleet.features.embedding import load_embedder
from microfleet.features.sparse import Bm25Encoder
from microfleet.knowledge.remote import QdrantServerStore
from microfleet.knowledge.search import KnowledgeSearch
from microfleet.knowledge.store import Fusion
from tests.knowledge.test_remote import _points


@pytest.fixture
def search(tmp_path: Path) -> KnowledgeSearch:
    embedder = load_embedder(None)
    store = QdrantServerStore(QdrantClient(path=str(tmp_path / "q")), "kb", embedder.dim)
    store.upsert(_points())
    return KnowledgeSearch(store, embedder, Bm25Encoder(), Fusion())


def test_relevant_keeps_only_close_chunks(search: KnowledgeSearch) -> None:
    def vector(text: str) -> list[float]:
        return search.embedder.embed([text])[0].tolist()  # type: ignore[no-any-return]

    question = "Which EU country has the lowest VAT rate?"
    hits = search.relevant(question, vector(question), 3, 0.3)
    assert [h.doc_id for h in hits] == ["vat"]
    unrelated = "How do I bake sourdough bread?"
    assert search.relevant(unrelated, vector(unrelated), 3, 0.3) == []


def test_a_store_that_goes_away_is_a_store_error(search: KnowledgeSearch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    search.store.client = QdrantClient(url=dead, timeout=2)  # type: ignore[attr-defined]
    with pytest.raises(StoreError, match="the knowledge base is unavailable"):
        search.search("VAT", k=2)

"""KnowledgeSearch: the relevance floor, and a store that goes away mid-flight."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from microfleet.errors import StoreError
from microfleet.knowledge.embedding import load_embedder
from microfleet.knowledge.remote import QdrantServerStore
from microfleet.knowledge.search import KnowledgeSearch
from microfleet.knowledge.sparse import Bm25Encoder
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


def test_a_reader_never_sees_two_versions_of_a_document(tmp_path: Path) -> None:
    """The moment between a shorter new version's write and the deletion of the old one's
    last chunks (or a kill there, before the repair at start): search shows the new only."""
    from microfleet.features.chunking import chunk_point_id
    from microfleet.knowledge.edge import EdgeVectorStore
    from microfleet.knowledge.store import ChunkPoint

    embedder, bm25 = load_embedder(None), Bm25Encoder()

    def version(doc_hash: str, texts: list[str]) -> list[ChunkPoint]:
        dense, sparse = embedder.embed(texts).tolist(), bm25.embed_documents(texts)
        payload = {"doc_id": "levy", "doc_hash": doc_hash, "chunk_count": len(texts)}
        return [
            ChunkPoint(
                chunk_point_id("levy", i),
                dense[i],
                sparse[i],
                {**payload, "chunk_index": i, "text": t},
            )
            for i, t in enumerate(texts)
        ]

    store = EdgeVectorStore(tmp_path / "shard", embedder.dim)
    old = [f"The Orvane levy, part {i}: it was 3 percent in the old version." for i in range(3)]
    store.upsert(version("old", old))
    store.upsert(version("new", ["The Orvane levy is now 5 percent."]))  # old parts 1, 2 remain
    assert store.count() == 3
    search = KnowledgeSearch(store, embedder, bm25, Fusion())
    hits = search.search("Orvane levy percent", k=5)
    assert [(h.payload["doc_hash"], h.text) for h in hits] == [
        ("new", "The Orvane levy is now 5 percent.")
    ]
    store.close()


def _search_over(tmp_path: Path, chunks: list[tuple[str, str]]) -> KnowledgeSearch:
    """A real Edge shard holding `chunks` (document id, text), searched as served."""
    from microfleet.features.chunking import chunk_point_id
    from microfleet.knowledge.edge import EdgeVectorStore
    from microfleet.knowledge.store import ChunkPoint

    embedder, bm25 = load_embedder(None), Bm25Encoder()
    texts = [text for _, text in chunks]
    dense, sparse = embedder.embed(texts).tolist(), bm25.embed_documents(texts)
    store = EdgeVectorStore(tmp_path / "shard", embedder.dim)
    store.upsert(
        [
            ChunkPoint(
                chunk_point_id(doc, i),
                dense[i],
                sparse[i],
                {"doc_id": doc, "chunk_index": i, "text": text, "title": doc, "tags": []},
            )
            for i, (doc, text) in enumerate(chunks)
        ]
    )
    return KnowledgeSearch(store, embedder, bm25, Fusion())


def test_another_document_far_less_close_than_the_best_is_not_context(tmp_path: Path) -> None:
    """A question about one article gets its chunks, not a second article to mix in; a
    document nearly as close still comes along."""
    search = _search_over(
        tmp_path,
        [
            ("gold", "Gold climbed above 4,000 dollars an ounce for the first time."),
            ("gold", "Gold's rally was driven by central-bank buying and falling real yields."),
            ("copper", "Copper prices rose to 11,000 dollars a tonne after a mine accident."),
            ("silver", "Silver climbed above 50 dollars an ounce for the first time."),
        ],
    )
    question = "How high did the price of gold climb?"
    vector = search.embedder.embed([question])[0].tolist()
    every = {h.doc_id for h in search.relevant(question, vector, 4, 0.1)}
    assert every == {"gold", "copper", "silver"}
    close = [h.doc_id for h in search.relevant(question, vector, 4, 0.1, None, 0.8)]
    assert sorted(close) == ["gold", "gold", "silver"]
    search.store.close()


def test_the_closest_document_is_always_among_the_chunks(tmp_path: Path) -> None:
    """BM25 ranks an article that says "cut" three times above the one the question is
    about ("Fed" is not "Federal"); the closest document is kept all the same."""
    search = _search_over(
        tmp_path,
        [
            (
                "fed",
                "Federal Reserve trims rates by a quarter point. The Federal Reserve "
                "lowered its benchmark federal funds range by 25 basis points.",
            ),
            (
                "jobs",
                "US payrolls grow less than expected. Revisions cut earlier months' "
                "gains, and traders expect a rate cut and more cuts.",
            ),
            (
                "boe",
                "Bank of England holds rates in a split vote. The Bank of England kept "
                "Bank Rate at 4%, with the minority preferring a cut.",
            ),
        ],
    )
    question = "By how much did the Fed cut rates?"
    vector = search.embedder.embed([question])[0].tolist()
    fused = search.relevant(question, vector, 3, 0.1, None, 0.5)
    assert fused[0].doc_id == "jobs"  # the premise: fusion puts another article first
    assert [h.doc_id for h in search.relevant(question, vector, 1, 0.1, None, 0.5)] == ["fed"]
    search.store.close()

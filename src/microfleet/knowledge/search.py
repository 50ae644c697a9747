"""Hybrid search: a dense MiniLM vector plus a BM25 sparse vector, fused inside Qdrant."""

from __future__ import annotations

from microfleet.features.embedding import Embedder
from microfleet.features.sparse import Bm25Encoder
from microfleet.knowledge.store import Fusion, QueryMode, SearchFilter, SearchHit, VectorStore

TIE_MARGIN = 8


class KnowledgeSearch:
    def __init__(
        self, store: VectorStore, embedder: Embedder, sparse: Bm25Encoder, fusion: Fusion
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.sparse = sparse
        self.fusion = fusion

    def search(
        self,
        query: str,
        k: int = 5,
        flt: SearchFilter | None = None,
        mode: QueryMode = "hybrid",
    ) -> list[SearchHit]:
        if not query.strip():
            return []
        dense = self.embedder.embed([query])[0].tolist() if mode != "sparse" else None
        sparse = self.sparse.embed_query(query) if mode != "dense" else None
        if sparse is not None and not sparse.indices:
            sparse = None  # only stopwords: nothing lexical to match
            if dense is None:
                return []
        # Fusion often ties (equal RRF ranks), and the engine cuts ties arbitrarily. Fetch a
        # few more, break ties by id, then cut: results (and datasets built on them) repeat.
        hits = self.store.query(dense, sparse, k + TIE_MARGIN, flt, self.fusion)
        ordered = sorted(hits, key=lambda h: (-round(h.score, 9), h.chunk_id))
        return ordered[:k]

"""Hybrid search: a dense MiniLM vector plus a BM25 sparse vector, fused inside Qdrant."""

from __future__ import annotations

from microfleet.core.hits import QueryMode, SearchFilter, SearchHit
from microfleet.errors import StoreError, first_line
from microfleet.knowledge.embedding import Embedder
from microfleet.knowledge.sparse import Bm25Encoder, SparseVec
from microfleet.knowledge.store import Fusion, VectorStore

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
        return self._fused(dense, sparse, k, flt)

    def _fused(
        self, dense: list[float] | None, sparse: SparseVec | None, k: int, flt: SearchFilter | None
    ) -> list[SearchHit]:
        hits = self._query(dense, sparse, k + TIE_MARGIN, flt)
        ordered = sorted(hits, key=lambda h: (-round(h.score, 9), h.chunk_id))
        return self._current(ordered)[:k]

    def _current(self, hits: list[SearchHit]) -> list[SearchHit]:
        """Only chunks of each document's current version. While a shorter new version is
        written, the old one's last chunks outlive it briefly (until they are deleted, or
        repaired after a kill): those are the hits whose version no longer has all its
        chunks, so a reader never sees two versions of one document."""
        whole: dict[tuple[str, str], bool] = {}
        kept = []
        for hit in hits:
            key = (hit.doc_id, str(hit.payload.get("doc_hash", "")))
            if key not in whole:
                whole[key] = self._complete(hit)
            if whole[key]:
                kept.append(hit)
        return kept

    def _complete(self, hit: SearchHit) -> bool:
        expected, doc_hash = hit.payload.get("chunk_count"), hit.payload.get("doc_hash")
        if not isinstance(expected, int) or not doc_hash:
            return True  # written by another tool: nothing to check against
        try:
            found = self.store.count(SearchFilter(doc_ids=(hit.doc_id,)), doc_hash=doc_hash)
        except Exception as exc:
            raise StoreError(f"the knowledge base is unavailable: {first_line(exc)}") from None
        return found >= expected

    def _query(
        self, dense: list[float] | None, sparse: SparseVec | None, k: int, flt: SearchFilter | None
    ) -> list[SearchHit]:
        try:
            return self.store.query(dense, sparse, k, flt, self.fusion)
        except StoreError:
            raise
        except Exception as exc:  # a server that went away, a closed shard
            raise StoreError(f"the knowledge base is unavailable: {first_line(exc)}") from None

    def relevant(
        self,
        query: str,
        dense: list[float],
        k: int,
        min_similarity: float,
        flt: SearchFilter | None = None,
        others_within: float = 0.0,
    ) -> list[SearchHit]:
        """Hybrid top-k, keeping only chunks whose cosine similarity reaches `min_similarity`,
        and, for a chunk of another document than the closest chunk's, `others_within` times
        the closest chunk's similarity.

        Fused scores (RRF ranks) say nothing about relevance, so the dense scores decide which
        chunks may be used at all; an unrelated question gets no sources rather than the least
        bad ones, and a question about one article does not get a second, unrelated one to mix
        in ("gold" 0.63, then "copper" 0.49). Chunks flagged as prompt injections are never
        returned: these hits go into prompts. `dense` is the query's embedding (computed once
        by the caller).
        """
        close = self._query(dense, None, self.fusion.prefetch_limit, flt)
        close = [hit for hit in close if hit.score >= min_similarity and not hit.instructs]
        if not close:
            return []
        best = max(close, key=lambda hit: hit.score)
        near = others_within * best.score
        allowed = {h.chunk_id for h in close if h.doc_id == best.doc_id or h.score >= near}
        embedded = self.sparse.embed_query(query)
        sparse = embedded if embedded.indices else None
        hits = self._fused(dense, sparse, k + TIE_MARGIN, flt)
        kept = [hit for hit in hits if hit.chunk_id in allowed]
        # The closest chunks rank low when BM25 misses them: read a wider fused list.
        if len(kept) < min(k, len(allowed)) or not _has_doc(kept[:k], best.doc_id):
            hits = self._fused(dense, sparse, self.fusion.prefetch_limit, flt)
            kept = [hit for hit in hits if hit.chunk_id in allowed]
        return _with_closest_doc(kept, best.doc_id, k)


def _has_doc(hits: list[SearchHit], doc_id: str) -> bool:
    return any(hit.doc_id == doc_id for hit in hits)


def _with_closest_doc(kept: list[SearchHit], doc_id: str, k: int) -> list[SearchHit]:
    """The first `k` of `kept` (fused order), with a chunk of the closest document among
    them: it set the bar for the others, and BM25 may rank it below articles that merely
    share a word ("By how much did the Fed cut rates?": "Fed" is not "Federal", and two
    other articles say "cut")."""
    first = kept[:k]
    if k < 1 or _has_doc(first, doc_id):
        return first
    closest = next((hit for hit in kept if hit.doc_id == doc_id), None)
    return first if closest is None else [*kept[: k - 1], closest]

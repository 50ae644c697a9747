"""BM25-style sparse term weights from Qdrant's own tokenizer and Snowball stemmer.

Documents carry term-frequency weights saturated by (k, b, avg_len); the IDF comes from
the collection's `Modifier.IDF`, so it stays current as the knowledge base grows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SparseVec:
    indices: list[int]
    values: list[float]


class Bm25Encoder:
    def __init__(self, language: str = "english", avg_len: float = 150.0) -> None:
        from qdrant_edge import Bm25, Bm25Config

        self._bm25 = Bm25(Bm25Config(language=language, avg_len=avg_len))

    def embed_documents(self, texts: list[str]) -> list[SparseVec]:
        return [self._convert(self._bm25.embed_document(t)) for t in texts]

    def embed_query(self, text: str) -> SparseVec:
        return self._convert(self._bm25.embed_query(text))

    @staticmethod
    def _convert(vec: object) -> SparseVec:
        return SparseVec(list(vec.indices), list(vec.values))  # type: ignore[attr-defined]

"""What a search returns and how it is narrowed: shared by the knowledge base, the
micromodel contract and everything above them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

OPERATOR = ""  # the owner of documents ingested by the operator (the CLI): no `owner` field
FLAGS = "flags"  # a chunk's payload list of what screens found in it
INJECTION = "prompt_injection"  # a chunk that reads as instructions to the model: never prompted
QueryMode = Literal["hybrid", "dense", "sparse"]


@dataclass
class SearchHit:
    doc_id: str
    chunk_id: str
    score: float
    title: str
    url: str | None
    text: str
    payload: dict[str, Any] = field(default_factory=dict, repr=False)

    def as_source(self, index: int) -> dict[str, Any]:
        """This hit as the answer's source number `index` (what its `[index]` cites)."""
        return {
            "index": index,
            "doc_id": self.doc_id,
            "chunk_id": self.chunk_id,
            "title": self.title,
            "url": self.url,
            "score": round(self.score, 4),
        }

    def as_dict(self) -> dict[str, Any]:
        """The `microfleet search --json` contract."""
        return {
            "doc_id": self.doc_id,
            "chunk_id": self.chunk_id,
            "score": self.score,
            "title": self.title,
            "url": self.url,
            "text": self.text,
        }

    @property
    def instructs(self) -> bool:
        """Flagged as a prompt injection: shown in search, never put into a prompt."""
        return INJECTION in (self.payload.get(FLAGS) or [])


@dataclass(frozen=True)
class SearchFilter:
    """Optional filters: published on or after `since` (RFC 3339), any of symbols, any of
    tags, any of the ids, and owned by any of `owners` (OPERATOR: a document with no owner)."""

    since: str | None = None
    symbols: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    doc_ids: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (self.since or self.symbols or self.tags or self.doc_ids or self.owners)

    def readable_by(self, owners: tuple[str, ...]) -> SearchFilter:
        """This filter, limited to documents of `owners` (unchanged when there are none)."""
        return replace(self, owners=owners) if owners else self

    def owned(self) -> tuple[list[str], bool]:
        """(the named owners, whether documents with no owner match too)."""
        return [o for o in self.owners if o != OPERATOR], OPERATOR in self.owners


def cites(sources: Iterable[dict[str, Any]]) -> str:
    """The inline citations of numbered sources: " [1] [2]"."""
    return "".join(f" [{source['index']}]" for source in sources)

"""The feature pipeline's steps, as plain functions over plain data.

prepare_batch (parse, clean, chunk, skip unchanged) -> embed_batch -> write_batch (upsert,
delete orphans, dead-letter failures). The Bytewax dataflow only wires these together.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from microfleet.core.hits import FLAGS, INJECTION, OPERATOR, SearchFilter
from microfleet.documents.parse import RawRecord, parse_record
from microfleet.documents.schema import Document, Failure
from microfleet.documents.titles import Titler
from microfleet.errors import DocumentError
from microfleet.features.chunking import Chunk, Chunker
from microfleet.features.guard import InjectionScreen
from microfleet.features.journal import WriteJournal
from microfleet.knowledge.embedding import Embedder
from microfleet.knowledge.sparse import Bm25Encoder, SparseVec
from microfleet.knowledge.store import ChunkPoint, VectorStore


@dataclass
class IngestStats:
    documents: int = 0
    chunks: int = 0
    failed: int = 0
    unchanged: int = 0

    def add(self, other: IngestStats) -> None:
        self.documents += other.documents
        self.chunks += other.chunks
        self.failed += other.failed
        self.unchanged += other.unchanged

    def as_dict(self) -> dict[str, int]:
        return {
            "documents": self.documents,
            "chunks": self.chunks,
            "failed": self.failed,
            "unchanged": self.unchanged,
        }


@dataclass
class PipelineContext:
    """What the steps need, loaded once per process and shared by its workers."""

    chunker: Chunker
    embedder: Embedder
    sparse: Bm25Encoder
    store: VectorStore
    dead_letter: DeadLetter
    max_bytes: int
    journal: WriteJournal | None = None  # None: no repair after a kill (tests, tools)
    screen: InjectionScreen | None = None  # None: chunks are not screened for injections
    titler: Titler = field(default_factory=Titler)  # the fleet's title rules; none by default


@dataclass
class EmbedContext:
    """What the embed step alone needs: a cluster's non-writing processes load only this."""

    embedder: Embedder
    sparse: Bm25Encoder
    screen: InjectionScreen | None = None


@dataclass
class PreparedDoc:
    doc: Document
    doc_hash: str
    chunks: list[Chunk]
    owner: str = OPERATOR  # the tenant that wrote it over the API; OPERATOR for the CLI
    ref: str = ""


@dataclass
class Batch:
    """A batch as it moves through the steps; later steps fill in more fields."""

    docs: list[PreparedDoc] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    unchanged: int = 0
    dense: list[list[float]] = field(default_factory=list)
    sparse: list[SparseVec] = field(default_factory=list)
    flagged: list[bool] = field(default_factory=list)  # per chunk: reads as an injection
    embedded_in: int = 0  # the process id that embedded it (a cluster counts its processes)


class DeadLetter:
    """Appends failed documents, one JSON line each, to a file under the data dir."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, failures: list[Failure]) -> None:
        if not failures:
            return
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.writelines(f.as_json() + "\n" for f in failures)


def prepare_batch(records: list[RawRecord], ctx: PipelineContext, owner: str = OPERATOR) -> Batch:
    """Parse, clean and chunk each record; keep failures aside; skip unchanged documents.
    A tenant (`owner`) may write only new ids and its own documents."""
    batch = Batch()
    latest: dict[str, PreparedDoc] = {}
    for record in records:
        try:
            doc = ctx.titler.retitle(parse_record(record, ctx.max_bytes))
        except DocumentError as exc:
            batch.failures.append(Failure(record.ref, str(exc), _raw_of(record)))
            continue
        doc_hash = doc.content_hash(ctx.chunker.signature)
        chunks = ctx.chunker.chunk_document(doc)
        # A later version of the same id in one batch supersedes the earlier one.
        latest[doc.id] = PreparedDoc(doc, doc_hash, chunks, owner, record.ref)
    for prepared in latest.values():
        if owner != OPERATOR and owned_by_another(ctx.store, prepared.doc.id, owner):
            reason = f"document '{prepared.doc.id}' belongs to someone else; give it another id"
            batch.failures.append(Failure(prepared.ref, reason))
        elif is_unchanged(ctx.store, prepared):
            batch.unchanged += 1
        else:
            batch.docs.append(prepared)
    return batch


def is_unchanged(store: VectorStore, prepared: PreparedDoc) -> bool:
    """Every chunk of this exact version is stored, and nothing else under its id."""
    n = len(prepared.chunks)
    by_id = SearchFilter(doc_ids=(prepared.doc.id,))
    return store.count(by_id, doc_hash=prepared.doc_hash) == n and store.count(by_id) == n


def owned_by_another(store: VectorStore, doc_id: str, owner: str) -> bool:
    """Some chunk stored under `doc_id` has another owner (the operator included)."""
    by_id = SearchFilter(doc_ids=(doc_id,))
    return store.count(by_id) > store.count(by_id.readable_by((owner,)))


def embed_batch(batch: Batch, ctx: PipelineContext | EmbedContext) -> Batch:
    """Dense vectors for all chunks of the batch in one encode call, and BM25 sparse vectors."""
    texts = [embedding_input(p.doc, c) for p in batch.docs for c in p.chunks]
    if texts:
        vectors = ctx.embedder.embed(texts)
        batch.dense = vectors.tolist()
        batch.sparse = ctx.sparse.embed_documents(texts)
        if ctx.screen is not None:  # on the same vectors: the screen costs no second pass
            batch.flagged = ctx.screen.flagged(texts, vectors)
    return batch


def embedding_input(doc: Document, chunk: Chunk) -> str:
    """The title gives short chunks their subject; the payload keeps the chunk text alone."""
    return f"{doc.title}\n{chunk.text}" if doc.title else chunk.text


def write_batch(batch: Batch, ctx: PipelineContext) -> IngestStats:
    """Upsert the batch in one durable write, then delete each document's orphaned old chunks."""
    points = list(_points(batch))
    replaced = [(p.doc.id, p.doc_hash) for p in batch.docs]
    # A document new to the store has nothing stale (a count is cheaper than a delete, which
    # is a write of its own); a kill's repair still reads every replaced id from the journal.
    stored = [pair for pair in replaced if ctx.store.count(SearchFilter(doc_ids=(pair[0],)))]
    entry = ctx.journal.begin(replaced) if ctx.journal else None
    ctx.store.upsert(points)
    for doc_id, doc_hash in stored:
        ctx.store.delete_stale(doc_id, doc_hash)
    if ctx.journal:
        ctx.journal.end(entry)
    ctx.dead_letter.write(batch.failures)
    return IngestStats(
        documents=len(batch.docs),
        chunks=len(points),
        failed=len(batch.failures),
        unchanged=batch.unchanged,
    )


def _points(batch: Batch) -> list[ChunkPoint]:
    points = []
    i = 0
    for prepared in batch.docs:
        for chunk in prepared.chunks:
            payload = chunk_payload(prepared, chunk)
            if batch.flagged and batch.flagged[i]:
                payload[FLAGS] = [INJECTION]  # kept and searchable, never prompted
            points.append(ChunkPoint(chunk.point_id, batch.dense[i], batch.sparse[i], payload))
            i += 1
    return points


def chunk_payload(prepared: PreparedDoc, chunk: Chunk) -> dict[str, object]:
    doc = prepared.doc
    return {
        "text": chunk.text,
        "doc_id": doc.id,
        "chunk_index": chunk.chunk_index,
        "chunk_count": len(prepared.chunks),
        "doc_hash": prepared.doc_hash,
        "title": doc.title,
        "url": doc.url,
        "published_at": doc.published_iso(),
        "source": doc.source,
        "symbols": doc.symbols,
        "tags": doc.tags,
        "owner": prepared.owner or None,
    }


def run_steps(records: list[RawRecord], ctx: PipelineContext) -> IngestStats:
    """All steps in order, without a dataflow engine (used by the HTTP ingest and tests)."""
    return write_batch(embed_batch(prepare_batch(records, ctx), ctx), ctx)


def _raw_of(record: RawRecord) -> str | None:
    if record.line is not None:
        return record.line
    if record.fields is not None:
        return json.dumps(record.fields, default=str, ensure_ascii=False)
    return str(record.path) if record.path is not None else None

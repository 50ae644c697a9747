"""Chunk documents by the generator model's (SmolLM2) tokenizer: running text on sentence
boundaries, tables by whole rows, each part under its header row, caption and section."""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from semantic_text_splitter import TextSplitter
from tokenizers import Tokenizer

from microfleet.documents.schema import Document
from microfleet.documents.tables import (
    Table,
    grouped_rows,
    only_headings,
    render_header,
    render_row,
    split_tables,
)
from microfleet.errors import UserError
from microfleet.llm.smollm2 import SMOLLM2_GGUF, smollm2_package_dir

# A scrap of text right above a table (a fund's name over its statements, "December 31,") is
# part of the table's context, not a chunk of its own that short-text BM25 would rank first.
SCRAP_TOKENS = 24
_SENTENCE_END = re.compile(r"[.!?](\s|$)")
CONTEXT_CHARS = 240  # a table's context, repeated over each of its parts, stays short
POINT_NAMESPACE = uuid.UUID("6f1c1d1e-8a55-4b7e-9a0e-6d6963726f66")
_lock = threading.Lock()


@dataclass(frozen=True)
class Chunk:
    """One chunk of a document; `point_id` is a uuid5 of (doc id, chunk index)."""

    doc_id: str
    chunk_index: int
    text: str

    @property
    def point_id(self) -> str:
        return chunk_point_id(self.doc_id, self.chunk_index)


def chunk_point_id(doc_id: str, chunk_index: int) -> str:
    return str(uuid.uuid5(POINT_NAMESPACE, f"{doc_id}\x1f{chunk_index}"))


def load_generator_tokenizer(cache_dir: Path) -> Tokenizer:
    """SmolLM2's tokenizer, extracted from the GGUF once and cached as tokenizer.json."""
    target = cache_dir / "smollm2-135m-instruct" / "tokenizer.json"
    with _lock:
        if not target.exists():
            from transformers import AutoTokenizer

            hf = AutoTokenizer.from_pretrained(smollm2_package_dir(), gguf_file=SMOLLM2_GGUF)
            hf.save_pretrained(target.parent)
    return Tokenizer.from_file(str(target))


class Chunker:
    """Splits text into chunks of at most `max_tokens` tokens with `overlap` tokens of overlap."""

    def __init__(
        self, tokenizer: Tokenizer, max_tokens: int, overlap: int, tables: bool = True
    ) -> None:
        """`tables=False` cuts tables like running text (the baseline bench/ingest.py measures
        table-aware chunking against)."""
        if overlap >= max_tokens:
            raise UserError(
                f"chunk overlap ({overlap}) must be smaller than the chunk size ({max_tokens}); "
                "lower MICROFLEET_CHUNK_OVERLAP"
            )
        self.max_tokens = max_tokens
        self.overlap = overlap
        self._tokenizer = tokenizer
        self.tables = tables
        # A range lets the splitter prefer whole sentences over filling every chunk to the brim.
        low = max(1, max_tokens * 3 // 4)
        self._splitter = TextSplitter.from_huggingface_tokenizer(
            tokenizer, capacity=(low, max_tokens), overlap=overlap
        )

    @property
    def signature(self) -> str:
        """Goes into each document's content hash, so a new chunking setup re-ingests."""
        return f"smollm2:{self.max_tokens}:{self.overlap}:{'tables1' if self.tables else 'flat'}"

    def chunk_document(self, doc: Document) -> list[Chunk]:
        pieces: list[str] = []
        blocks = split_tables(doc.text or "") if self.tables else [doc.text or ""]
        for block, after in zip(blocks, [*blocks[1:], None], strict=True):
            if isinstance(block, Table):
                pieces.extend(self.table_pieces(block))
            elif isinstance(after, Table) and self._is_scrap(block):
                after.caption = " — ".join(p for p in (" ".join(block.split()), after.caption) if p)
            else:
                pieces.extend(self.text_pieces(block))
        kept = [piece for piece in pieces if piece.strip()]
        return [Chunk(doc.id, i, piece) for i, piece in enumerate(kept)]

    def text_pieces(self, text: str) -> list[str]:
        """Sentence-bounded pieces; a piece that is only headings goes on top of the next."""
        pieces: list[str] = []
        pending = ""
        for piece in self._splitter.chunks(text):
            if only_headings(piece):
                pending = f"{pending}\n{piece}".strip()
                continue
            pieces.append(f"{pending}\n{piece}" if pending else piece)
            pending = ""
        return [*pieces, pending] if pending else pieces

    def table_pieces(self, table: Table) -> list[str]:
        """Whole rows, as many as fit, each part under the table's context and header row. A
        row longer than a chunk is a part of its own: a row is never cut."""
        context = table.context[:CONTEXT_CHARS]
        head = "\n".join(part for part in (context, render_header(table.headers)) if part)
        budget = self.max_tokens - self._count(head)
        parts: list[list[str]] = [[]]
        used = 0
        for row in grouped_rows(table):
            line = render_row(row)
            size = self._count(line) + 1
            if parts[-1] and used + size > budget:
                parts.append([])
                used = 0
            parts[-1].append(line)
            used += size
        return [head + "\n" + "\n".join(rows) for rows in parts if rows]

    def _is_scrap(self, text: str) -> bool:
        """A few words with no sentence in them: a label, not a passage."""
        return self._count(text) < SCRAP_TOKENS and not _SENTENCE_END.search(text)

    def _count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

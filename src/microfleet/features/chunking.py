"""Chunk documents by the generator model's (SmolLM2) tokenizer, on sentence boundaries."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from semantic_text_splitter import TextSplitter
from tokenizers import Tokenizer

from microfleet.documents.schema import Document
from microfleet.errors import UserError
from microfleet.llm.smollm2 import SMOLLM2_GGUF, smollm2_package_dir

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

    def __init__(self, tokenizer: Tokenizer, max_tokens: int, overlap: int) -> None:
        if overlap >= max_tokens:
            raise UserError(
                f"chunk overlap ({overlap}) must be smaller than the chunk size ({max_tokens}); "
                "lower MICROFLEET_CHUNK_OVERLAP"
            )
        self.max_tokens = max_tokens
        self.overlap = overlap
        # A range lets the splitter prefer whole sentences over filling every chunk to the brim.
        low = max(1, max_tokens * 3 // 4)
        self._splitter = TextSplitter.from_huggingface_tokenizer(
            tokenizer, capacity=(low, max_tokens), overlap=overlap
        )

    @property
    def signature(self) -> str:
        """Goes into each document's content hash, so a new chunking setup re-ingests."""
        return f"smollm2:{self.max_tokens}:{self.overlap}"

    def chunk_document(self, doc: Document) -> list[Chunk]:
        pieces = self._splitter.chunks(doc.text or "")
        return [Chunk(doc.id, i, piece) for i, piece in enumerate(pieces) if piece.strip()]

from __future__ import annotations

import itertools
from pathlib import Path

from microfleet.documents.schema import Document
from microfleet.features.chunking import Chunker, chunk_point_id, load_generator_tokenizer


def test_chunks_fit_the_budget_end_on_sentences_and_overlap(models_dir: Path) -> None:
    tokenizer = load_generator_tokenizer(models_dir)
    chunker = Chunker(tokenizer, max_tokens=64, overlap=16)
    text = " ".join(f"Rates in country {i} were unchanged this quarter." for i in range(60))
    chunks = chunker.chunk_document(Document(id="d", text=text))
    assert len(chunks) > 5
    for chunk in chunks:
        assert len(tokenizer.encode(chunk.text, add_special_tokens=False).ids) <= 64
        assert chunk.text.endswith(".")
    # Consecutive chunks share text (the overlap).
    assert all(a.text.split(".")[-2].strip() in b.text for a, b in itertools.pairwise(chunks))
    assert [c.chunk_index for c in chunks] == list(range(len(chunks)))


def test_point_ids_are_deterministic_uuid5() -> None:
    assert chunk_point_id("doc", 0) == chunk_point_id("doc", 0)
    assert chunk_point_id("doc", 0) != chunk_point_id("doc", 1)
    assert len(chunk_point_id("doc", 0)) == 36

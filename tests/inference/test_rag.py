"""Fitting history and sources into the window, counted with SmolLM2's tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from microfleet.core.hits import SearchHit
from microfleet.errors import UserError
from microfleet.features.chunking import load_generator_tokenizer
from microfleet.inference.rag import ground


def _hit(i: int, words: int) -> SearchHit:
    return SearchHit(f"doc{i}", f"c{i}", 1.0 / i, f"Title {i}", None, "tax " * words)


def test_context_fits_the_budget_and_numbers_sources(models_dir: Path) -> None:
    tokenizer = load_generator_tokenizer(models_dir)

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    hits = [_hit(1, 300), _hit(2, 900), _hit(3, 100)]
    history = [{"role": "user", "content": "old " * 400}, {"role": "assistant", "content": "ok"}]
    grounding = ground("Be brief.", history, "What is VAT?", hits, 600, count)
    total = sum(count(m["content"]) for m in grounding.messages)
    assert total <= 600
    assert [s["doc_id"] for s in grounding.sources] == ["doc1", "doc3"]  # doc2 does not fit
    assert [s["index"] for s in grounding.sources] == [1, 2]
    assert "[2] Title 3" in grounding.messages[-1]["content"]
    assert grounding.messages[1]["content"] == "ok"  # the oldest turn was dropped first
    two = ground(
        "Be brief.", [], "What is VAT?", [_hit(1, 20), _hit(3, 20), _hit(1, 20)], 600, count
    )
    assert [(s["doc_id"], s["index"]) for s in two.sources] == [("doc1", 1), ("doc3", 2)]
    assert two.messages[-1]["content"].count("[1] Title 1") == 2  # one document, one number
    with pytest.raises(UserError, match="the limit is 600 tokens"):
        ground("Be brief.", [], "tax " * 700, hits, 600, count)

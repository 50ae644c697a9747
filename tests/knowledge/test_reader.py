"""The extractive reader, on the real MiniLM and BM25 encoder: it quotes the sentence that
answers, in reading order, and declines when nothing answers."""

from __future__ import annotations

import pytest

from microfleet.core.hits import SearchHit
from microfleet.knowledge.embedding import load_embedder
from microfleet.knowledge.reader import SentenceReader
from microfleet.knowledge.sparse import Bm25Encoder

HALCYON = (
    "Halcyon Bank issued a profit warning after setting aside 800 million euros for expected "
    "loan losses in its commercial property book. The lender said office valuations in several "
    "European cities had fallen further than planned. Its common equity tier one ratio remains "
    "above 13%, and the dividend is unchanged. The shares fell 12%, their biggest one-day drop "
    "since 2020."
)
OIL = (
    "Brent crude rose 2% to 66 dollars a barrel after OPEC+ agreed to pause planned output "
    "increases. The group cited seasonally weaker demand. US crude stocks rose for a second week."
)


def hit(doc: str, title: str, text: str) -> SearchHit:
    return SearchHit(doc, f"{doc}:0", 0.5, title, None, text, {"chunk_index": 0})


@pytest.fixture(scope="module")
def reader() -> SentenceReader:
    return SentenceReader(load_embedder(None), Bm25Encoder())


def test_the_sentence_that_answers_is_quoted_with_its_hit(reader: SentenceReader) -> None:
    hits = [
        hit("oil", "Brent crude rises after OPEC+ slows output increases", OIL),
        hit("halcyon", "Halcyon Bank warns on profit as loan losses rise", HALCYON),
    ]
    reading = reader.answer("How much has Halcyon Bank put aside for bad loans?", hits)
    assert reading is not None
    assert reading.text.startswith("Halcyon Bank issued a profit warning after setting aside")
    assert "800 million euros" in reading.text and reading.text in HALCYON
    assert [h.doc_id for h in reading.hits] == ["halcyon"]
    shares = reader.answer("By how much did Halcyon's shares drop?", hits)
    assert shares is not None and "fell 12%" in shares.text


def test_a_question_nothing_answers_gets_none(reader: SentenceReader) -> None:
    hits = [hit("halcyon", "Halcyon Bank warns on profit as loan losses rise", HALCYON)]
    assert reader.answer("How do I bake sourdough bread at home?", hits) is None
    assert reader.answer("anything", []) is None


def test_sentences_come_back_in_reading_order(reader: SentenceReader) -> None:
    hits = [hit("halcyon", "Halcyon Bank warns on profit as loan losses rise", HALCYON)]
    quotes = reader.read("Halcyon Bank loan losses profit warning and shares", hits)
    assert quotes is not None
    positions = [HALCYON.index(q.text) for q in quotes]
    assert positions == sorted(positions)

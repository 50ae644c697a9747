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


def _filing(rows: int) -> str:
    lines = "\n".join(f"| Segment {i} | {100 + i:,} | {90 + i:,} |" for i in range(rows))
    return (
        "# Annual report\n\nRevenue grew in every segment.\n\n## Results by segment\n\n"
        "Table 3: Revenue by segment (in millions)\n\n"
        f"| Segment | 2024 | 2023 |\n|---|---|---|\n{lines}\n\nMargins were stable."
    )


def test_a_long_table_is_split_by_whole_rows_under_its_header(models_dir: Path) -> None:
    tokenizer = load_generator_tokenizer(models_dir)
    chunker = Chunker(tokenizer, max_tokens=96, overlap=16)
    chunks = chunker.chunk_document(Document(id="f", text=_filing(40)))
    parts = [c.text for c in chunks if "| Segment | 2024 | 2023 |" in c.text]
    assert len(parts) > 3  # too long for one chunk
    seen = []
    for part in parts:
        context, header, separator, *rows = part.split("\n")
        assert context == "Results by segment — Table 3: Revenue by segment (in millions)"
        assert (header, separator) == ("| Segment | 2024 | 2023 |", "|---|---|---|")
        assert all(len(row.split("|")) == 5 for row in rows)  # whole rows only
        assert len(tokenizer.encode(part, add_special_tokens=False).ids) <= 96
        seen += rows
    assert seen == [f"| Segment {i} | {100 + i} | {90 + i} |" for i in range(40)]
    # The running text stays apart from the table; the caption is not repeated as text.
    texts = [c.text for c in chunks if c.text not in parts]
    assert texts == ["# Annual report\n\nRevenue grew in every segment.", "Margins were stable."]


def test_tables_from_converters_are_read_leniently(models_dir: Path) -> None:
    chunker = Chunker(load_generator_tokenizer(models_dir), max_tokens=192, overlap=32)
    docx = "|  |  |\n| --- | --- |\n| Country | Rate |\n| Malta | 18% |"  # empty header row
    caption = "| Table 1: Rates |  |\n|---|---|\n| Country | Rate |\n|---|---|\n| Malta | 18% |"
    bare = "| Country | Rate |\n| Malta | 18% |"  # no separator
    for text in (docx, caption, bare):
        (chunk,) = chunker.chunk_document(Document(id="t", text=text))
        assert chunk.text.endswith("| Country | Rate |\n|---|---|\n| Malta | 18% |")
    (chunk,) = chunker.chunk_document(Document(id="t", text=caption))
    assert chunk.text.startswith("Table 1: Rates\n")
    text = "Pipes | in | a sentence are not a table."
    assert chunker.chunk_document(Document(id="t", text=text))[0].text == text

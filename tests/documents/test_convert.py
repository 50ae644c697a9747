"""Each format, converted from a real file: its table arrives as rows under their header."""

from __future__ import annotations

from pathlib import Path

import pytest

from microfleet.documents.parse import clean_document, parse_file
from microfleet.documents.tables import Table, split_tables
from microfleet.errors import DocumentError
from tests.documents.formats import HEADER, TABLES, write_all


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_all(tmp_path_factory.mktemp("formats"))


@pytest.mark.parametrize("suffix", sorted(TABLES))
def test_each_format_keeps_its_table(files: dict[str, Path], suffix: str) -> None:
    doc = clean_document(parse_file(files[suffix], 10**7))
    tables = [b for b in split_tables(doc.text or "") if isinstance(b, Table)]
    assert len(tables) == 1, doc.text
    (table,) = tables
    assert table.header == list(HEADER)
    assert [tuple(row) for row in table.rows] == TABLES[suffix]


def test_titles_captions_and_dates(files: dict[str, Path]) -> None:
    docs = {s: clean_document(parse_file(p, 10**7)) for s, p in files.items()}
    assert docs[".docx"].title == "Port investment plan"
    assert docs[".pptx"].title == "Network investment"
    assert docs[".eml"].title == "Advisory budget for the audit committee"
    assert docs[".eml"].published_iso() == "2025-07-01T10:00:00Z"
    assert "From: cfo@example.com" in (docs[".eml"].text or "")
    for suffix in (".docx", ".pdf", ".html", ".eml"):
        (table,) = [b for b in split_tables(docs[suffix].text or "") if isinstance(b, Table)]
        assert "Capital budget by project" in table.context, suffix


@pytest.mark.parametrize("suffix", [".docx", ".xlsx", ".pptx", ".pdf"])
def test_a_broken_file_is_one_line_that_names_its_type(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"PK\x03\x04 this is not really a zip or a pdf")
    with pytest.raises(DocumentError) as caught:
        parse_file(path, 10**7)
    assert "\n" not in str(caught.value)
    assert suffix.lstrip(".") in str(caught.value).lower()


def test_an_eml_without_headers_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "note.eml"
    path.write_bytes(b"just some words, no headers at all")
    with pytest.raises(DocumentError, match="not an e-mail message"):
        parse_file(path, 10**7)

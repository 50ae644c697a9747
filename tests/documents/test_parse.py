from __future__ import annotations

from pathlib import Path

import pytest
from fpdf import FPDF

from microfleet.documents.parse import RawRecord, parse_file, parse_jsonl_line, parse_record
from microfleet.errors import DocumentError

MB = 1_000_000


def test_markdown_takes_title_from_heading_and_id_from_path(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text("# Rates\n\nThe ECB held   rates.\n\n\n\nRead more\n")
    doc = parse_record(RawRecord(ref=str(path), path=path), 10 * MB)
    assert doc.title == "Rates"
    assert doc.id.endswith("note.md")
    assert "Read more" not in (doc.text or "")
    assert "held rates." in (doc.text or "")


def test_html_becomes_clean_text(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Gold rallies</title><script>var x=1;</script></head>"
        "<body><nav>Home | About</nav><article><h1>Gold rallies</h1>"
        "<p>Gold rose above 4,000 dollars an ounce on central bank buying.</p>"
        "<p>Silver also gained as investors sought safe assets.</p></article></body></html>"
    )
    doc = parse_record(RawRecord(ref=str(path), path=path), 10 * MB)
    assert doc.title == "Gold rallies"
    assert "central bank buying" in (doc.text or "")
    assert "var x" not in (doc.text or "") and "<p>" not in (doc.text or "")


def test_pdf_text_is_extracted(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(text="Quarterly filing: revenue rose 12 percent.")
    path = tmp_path / "filing.pdf"
    pdf.output(str(path))
    doc = parse_record(RawRecord(ref=str(path), path=path), 10 * MB)
    assert "revenue rose 12 percent" in (doc.text or "")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x00\x01\x02binary\x00", "binary"),
        ("caf\u00e9".encode("latin-1"), "not UTF-8"),
        (b"   \n\n  ", "empty"),
    ],
)
def test_bad_files_give_one_line_reasons(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DocumentError, match=reason) as info:
        parse_record(RawRecord(ref=str(path), path=path), 10 * MB)
    assert "\n" not in str(info.value)


def test_a_50_mb_document_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as fh:
        fh.truncate(50 * MB)
    with pytest.raises(DocumentError, match=r"50\.0 MB, over the 10 MB limit"):
        parse_file(path, 10 * MB)


def test_unsupported_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="unsupported file type"):
        parse_file(tmp_path / "image.png", MB)
    with pytest.raises(DocumentError, match="cannot read file"):
        parse_file(tmp_path / "missing.txt", MB)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not an object"),
        ('{"title": "no id", "text": "x"}', "id"),
        ('{"id": "a1", "title": "no body"}', "neither 'text' nor 'html'"),
        ('{"id": "a1", "text": "x", "published_at": "yesterday"}', "published_at"),
    ],
)
def test_bad_jsonl_lines(line: str, reason: str) -> None:
    with pytest.raises(DocumentError, match=reason):
        parse_jsonl_line(line, MB)


def test_jsonl_html_document_is_cleaned() -> None:
    doc = parse_record(
        RawRecord(
            ref="x", line='{"id": 7, "html": "<p>Brent rose <b>2%</b>.</p>", "symbols": ["XOM"]}'
        ),
        MB,
    )
    assert doc.id == "7"
    assert doc.text == "Brent rose 2%."
    assert doc.symbols == ["XOM"]

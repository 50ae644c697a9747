"""PDF text, with its tables as Markdown tables.

pypdf reads running text about 30x faster than pdfplumber, so it reads every PDF first. Only
when a page reads like a table does pdfplumber read the document again: ruled tables (drawn
cell borders) by pdfplumber's own table finder, placed among the page's lines by position;
otherwise MarkItDown's converter, which finds borderless tables by the alignment of words.
"""

from __future__ import annotations

import io
import re
from typing import Any

from microfleet.errors import DocumentError

_NUMBER = re.compile(r"(?<![\w.])[($-]?\d[\d,]*(?:\.\d+)?%?\)?(?![\w])")


def pdf_text(data: bytes) -> tuple[str, str]:
    """(title, text). Raises DocumentError with a one-line reason."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str(reader.metadata.title) if reader.metadata and reader.metadata.title else ""
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise DocumentError(f"cannot read PDF: {str(exc).splitlines()[0][:200]}") from None
    if any(looks_tabular(page) for page in pages):
        try:
            return title, tables_as_markdown(data)
        except Exception:
            pass
    return title, "\n\n".join(pages)


def looks_tabular(page: str) -> bool:
    """Three or more lines that end in a number or hold two: a table pypdf would flatten."""
    return sum(_row_like(line.strip()) for line in page.splitlines()) >= 3


def _row_like(line: str) -> bool:
    numbers = _NUMBER.findall(line)
    return len(numbers) >= 2 or bool(numbers and line.endswith(numbers[-1]))


def tables_as_markdown(data: bytes) -> str:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        if any(page.find_tables() for page in pdf.pages):
            return "\n\n".join(_page_with_ruled_tables(page) for page in pdf.pages)
    from microfleet.documents.convert import markitdown

    return markitdown(data, ".pdf")


def _page_with_ruled_tables(page: Any) -> str:
    """The page's lines and its ruled tables, in reading order from the top."""
    tables = page.find_tables()
    rest = page
    for table in tables:
        rest = rest.outside_bbox(table.bbox)
    items = [(line["top"], line["text"]) for line in rest.extract_text_lines()]
    items += [(table.bbox[1], _markdown(table.extract())) for table in tables]
    return "\n".join(text for _, text in sorted(items, key=lambda item: item[0]))


def _markdown(rows: list[list[str | None]]) -> str:
    cells = [[" ".join((cell or "").split()) for cell in row] for row in rows]
    cells = [row for row in cells if any(row)]
    if not cells:
        return ""
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join([lines[0], "|" + "---|" * len(cells[0]), *lines[1:]])

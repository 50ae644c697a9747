"""Clean text: a page's running header or footer goes; what only looks like one stays."""

from __future__ import annotations

from microfleet.documents.clean import normalize_text


def _pages(footer: str, pages: int = 6, lines: int = 10) -> list[str]:
    body = []
    for page in range(1, pages + 1):
        body += [f"Paragraph {page}.{n} of the report says something." for n in range(lines)]
        body.append(footer.format(page=page))
    return body


def test_a_footer_with_its_page_number_is_dropped() -> None:
    text = normalize_text("\n".join(_pages("Apple Inc. | Q3 2025 Form 10-Q | {page}")))
    assert "Form 10-Q" not in text and "Paragraph 6.9 of the report" in text
    bare = normalize_text("\n".join(_pages("{page}")))
    assert [line for line in bare.splitlines() if line.isdigit()] == []


def test_what_only_looks_like_page_furniture_stays() -> None:
    steps = [f"Step {n}" for n in range(1, 7)]  # a numbered list: consecutive lines
    assert normalize_text("\n".join(steps)).splitlines() == steps
    rows = _pages("| Year ending December 31, 20{page}15 | 383,000 |")  # table rows
    assert normalize_text("\n".join(rows)).count("Year ending") == 6
    few = _pages("Page {page}", pages=3)  # three pages are not a pattern yet
    assert normalize_text("\n".join(few)).count("Page ") == 3
    same = _pages("Chapter 7")  # no number counts up
    assert normalize_text("\n".join(same)).count("Chapter 7") == 6

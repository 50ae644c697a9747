"""Tables as filings write them: spacer cells, "$" cells, group labels, multi-row headers."""

from __future__ import annotations

from microfleet.documents.tables import Table, grouped_rows, split_tables

# As trafilatura writes an SEC income statement: spans lost, spacer cells, "$" in a cell.
RAGGED = """CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS (Unaudited)

(In millions)

| | | | | | | | | |
| | Three Months Ended | | Nine Months Ended |
| | June 28, 2025 | | June 29, 2024 | | June 28, 2025 | | June 29, 2024 |
| Net sales: | | | | | | | |
| Products | $ | 66,613 | | | $ | 61,564 | | | $ | 233,287 | | | $ | 224,908 | |
| Services | 27,423 | | | 24,213 | | | 80,408 | | | 71,197 | |
| Total net sales | 94,036 | | | 85,777 | | | 313,695 | | | 296,105 | |
| Cost of sales: | | | | | | | |
| Products | 43,620 | | | 39,803 | | | 147,097 | | | 140,667 | |
| Other income/(expense), net | (171 | ) | | 142 | | | (698 | ) | | 250 | |"""

# As markdownify writes a regular table: a "$" column and a ")" column of their own.
REGULAR = """| Quarter | | 2015 | |
|---|---|---|---|
| Lease | $ | 888,012 | |
| Loss | | (127,841 | ) |"""


def _table(text: str) -> Table:
    (table,) = [block for block in split_tables(text) if isinstance(block, Table)]
    return table


def test_a_ragged_statement_is_rows_of_figures_under_its_header_rows() -> None:
    table = _table(RAGGED)
    assert table.context == (
        "CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS (Unaudited) — (In millions)"
    )
    assert table.headers == [
        ["Three Months Ended", "Nine Months Ended"],
        ["June 28, 2025", "June 29, 2024", "June 28, 2025", "June 29, 2024"],
    ]
    rows = grouped_rows(table)
    assert rows[1] == ["Net sales: Products", "$66,613", "$61,564", "$233,287", "$224,908"]
    assert rows[3] == ["Net sales: Total net sales", "94,036", "85,777", "313,695", "296,105"]
    assert rows[5] == ["Cost of sales: Products", "43,620", "39,803", "147,097", "140,667"]
    assert rows[6][1] == "(171)"


def test_a_regular_table_keeps_its_columns_and_joins_signs_to_figures() -> None:
    table = _table(REGULAR)
    assert table.headers == [["Quarter", "2015"]]
    assert table.rows == [["Lease", "$888,012"], ["Loss", "(127,841)"]]


# As trafilatura writes Union Pacific's freight revenues: a row of years under the periods.
YEARS = """| | | | | | | | | |
| Freight revenues | Three months ended June 30, | | Six months ended June 30, | |
| Millions | 2025 | 2024 | Change | | 2025 | 2024 | Change | |
| Grain & grain products | $ | 964 | | $ | 901 | | 7% | $ | 1,914 | | $ | 1,844 | | 4% |
| Intermodal | 1,098 | | 1,135 | | (3) | | | 2,290 | | 2,219 | | 3 | | |"""


def test_a_row_of_years_heads_the_table() -> None:
    table = _table(YEARS)
    assert table.headers[-1] == ["Millions", "2025", "2024", "Change", "2025", "2024", "Change"]
    assert table.rows[-1] == ["Intermodal", "1,098", "1,135", "(3)", "2,290", "2,219", "3"]

"""A table's rows as sentences (as the reader quotes them), and two of them weighed."""

from __future__ import annotations

from microfleet.documents.tables import Table, split_tables
from microfleet.fleet.rows import row_figure, row_sentence, verdict

FREIGHT = """| Freight revenues | Three months ended June 30, | | Six months ended June 30, | |
| Millions | 2025 | 2024 | Change | | 2025 | 2024 | Change | |
| Grain & grain products | $ | 964 | | $ | 901 | | 7% | $ | 1,914 | | $ | 1,844 | | 4% |
| Intermodal | 1,098 | | 1,135 | | (3) | | | 2,290 | | 2,219 | | 3 | | |"""


def test_a_row_names_its_values_by_the_period_and_year_above_them() -> None:
    """Periods over a row of years, with the row labels' own header on the left ("Freight
    revenues | Three months ended June 30, | Six months ended June 30,")."""
    (table,) = [b for b in split_tables(FREIGHT) if isinstance(b, Table)]
    assert row_sentence(table, table.rows[-1]) == (
        "Intermodal: Three months ended June 30, 2025 1,098; Three months ended June 30, 2024 "
        "1,135; Three months ended June 30, Change (3); Six months ended June 30, 2025 2,290; "
        "Six months ended June 30, 2024 2,219; Six months ended June 30, Change 3"
    )


SUMMARY = """| | Three Months Ended | | Year-over-Year Change |
| | Jul 27, 2025 | | Jul 28, 2024 | | |
| Revenue | $ | 46,743 | | | $ | 30,040 | | | 56 | % |"""


def test_a_short_header_names_the_first_values() -> None:
    """Two dates under "Three Months Ended", then a change column with no date: the dates
    name the first two values, not the last two."""
    (table,) = [b for b in split_tables(SUMMARY) if isinstance(b, Table)]
    assert row_sentence(table, table.rows[-1]) == (
        "Revenue: Jul 27, 2025 $46,743; Jul 28, 2024 $30,040; 56%"
    )


NVIDIA = (
    "Net income: Three Months Ended Jul 27, 2025 $26,422; Three Months Ended Jul 28, 2024 "
    "$16,599; Six Months Ended Jul 27, 2025 $45,197 (In millions, except per share data)"
)
APPLE = (
    "Net income: Three Months Ended June 28, 2025 $23,434; Three Months Ended June 29, 2024 "
    "$21,448; Nine Months Ended June 28, 2025 $84,544 (In millions)"
)


def test_a_row_as_quoted_gives_its_first_figure() -> None:
    figure = row_figure(NVIDIA)
    assert figure is not None
    assert (figure.label, figure.period, figure.units) == (
        "Net income",
        "three months ended",
        "millions",
    )
    assert (figure.shown, figure.value) == ("$26,422", 26422.0)
    assert row_figure("The Company reported earnings of $3.15 per diluted share.") is None
    assert row_figure("Other income: Three Months Ended Jul 27, 2025 $(1,234)") is None


def test_two_rows_are_weighed_only_where_they_measure_the_same_thing() -> None:
    said = verdict([("Apple", APPLE), ("NVIDIA", NVIDIA)])
    assert (
        said
        == "NVIDIA's net income is the larger: $26,422 (in millions), against $23,434 for Apple."
    )
    # another label, another kind of period, other units, or a sentence: no verdict
    cash = "Operating activities: Net income: June 28, 2025 84,544; June 29, 2024 79,000"
    assert verdict([("Apple", cash), ("NVIDIA", NVIDIA)]) is None
    nine = APPLE.replace("Three Months", "Nine Months")
    assert verdict([("Apple", nine), ("NVIDIA", NVIDIA)]) is None
    thousands = APPLE.replace("(In millions)", "(In thousands)")
    assert verdict([("Apple", thousands), ("NVIDIA", NVIDIA)]) is None
    years = "Net income: 2025 $3,502; 2024 $3,314"  # no period but the year: not weighed
    assert verdict([("Union Pacific", years), ("Apple", years.replace("3,502", "9,000"))]) is None
    assert verdict([("Apple", APPLE)]) is None

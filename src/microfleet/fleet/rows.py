"""A table's rows as sentences, and two such rows weighed against each other.

A filing is mostly tables, and the reader quotes them row by row: the row's label, then each
value named by its column's headers, then the table's units ("Net income: Three Months Ended
Jul 27, 2025 $26,422; ... (In millions)"). A comparison across filings is answered with a row
of each side's own table, and a reader still has to find and weigh the two figures. Where both
rows have the same label, their first values are for the same kind of period (its header
without its dates: "Three Months Ended") and in the same units, and neither is negative, the
answer opens by saying which is larger. Anything else (two labels, two periods, a sentence
rather than a row) is left to the quotes: a wrong verdict is worse than none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from microfleet.documents.tables import Table

_UNITS = re.compile(r"\([^()]*\b(thousands|millions|billions|percent)\b[^()]*\)", re.I)
_FIRST = re.compile(r"^(?P<period>.*?)\s*(?P<shown>\$?\s?\d[\d,]*(?:\.\d+)?%?)$")
_DATE = re.compile(
    r"\b(?:(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2},?\s+)?"
    r"(?:19|20)\d{2}\b"
)


@dataclass(frozen=True)
class RowFigure:
    """A quoted row's first value, with what must match for two of them to be weighed."""

    label: str  # as the row gives it ("Net income")
    period: str  # its column's header without dates, lower-cased ("three months ended")
    units: str  # the table's scale ("millions"; "" where it gives none)
    shown: str  # as written ("$26,422")
    value: float


def row_figure(quoted: str) -> RowFigure | None:
    """The first value of a row quoted as "Label: Period header value; ... (units)"; None for
    anything else (a sentence, a row whose first value is no plain number)."""
    label, colon, rest = quoted.partition(": ")
    if not colon or not label:
        return None
    units = _UNITS.search(rest)
    cells = rest[: units.start()] if units else rest
    found = _FIRST.match(cells.split("; ")[0].strip())
    if found is None:
        return None
    period = " ".join(_DATE.sub("", found["period"]).split()).lower()
    shown = found["shown"]
    value = float(re.sub(r"[^\d.]", "", shown))
    return RowFigure(label.strip(), period, units.group(1).lower() if units else "", shown, value)


def verdict(sides: list[tuple[str, str]]) -> str | None:
    """The sentence that weighs two sides' quoted rows ([(side's name, its row)]), or None
    where they cannot be weighed as they stand."""
    if len(sides) != 2:
        return None
    (first, row_a), (second, row_b) = sides
    a, b = row_figure(row_a), row_figure(row_b)
    if a is None or b is None or not a.period:
        return None
    if (a.label.lower(), a.period, a.units) != (b.label.lower(), b.period, b.units):
        return None
    if a.value == b.value:
        return f"{first} and {second} report the same {a.label.lower()}: {a.shown}."
    (big, high), (small, low) = sorted(
        [(first, a), (second, b)], key=lambda pair: pair[1].value, reverse=True
    )
    units = f" (in {high.units})" if high.units and high.units != "percent" else ""
    measure = a.label.lower()
    return f"{big}'s {measure} is the larger: {high.shown}{units}, against {low.shown} for {small}."


def row_sentence(table: Table, row: list[str], context: str = "") -> str | None:
    """A table row as a sentence: its label, then each value named by its column's headers
    ("Total net sales: Three Months Ended June 28, 2025 $94,036; ..."), then the table's units
    where its caption (or `context`) gives them. None for a row with no value."""
    label, values = (row[0], row[1:]) if row else ("", [])
    names = _column_names(table, len(values))
    named = [f"{name} {value}".strip() for name, value in zip(names, values, strict=True) if value]
    if not named:
        return None
    units = _UNITS.search(context or table.context)
    said = f"{label}: {'; '.join(named)}" if label else "; ".join(named)
    return f"{said} {units.group(0)}" if units else said


def _column_names(table: Table, width: int) -> list[str]:
    """Each value column's name: its header cell, under the header above it that spans it
    (two periods over three columns each). A header with fewer cells than the values names
    the first ones: the columns after them are named by the row above alone ("Three Months
    Ended" over three dates, then "Year-over-Year Change")."""
    header = [cell for cell in table.header if cell][-width:] if width else []
    names = header + [""] * (width - len(header))
    for upper in table.headers[:-1]:
        cells = [cell for cell in upper if cell]
        spans = _spans(names, len(cells))
        if spans:
            span = width // spans
            cells = cells[-spans:]
            names = [f"{cells[i // span]} {name}".strip() for i, name in enumerate(names)]
    return names


def _spans(names: list[str], cells: int) -> int:
    """How many of a header row's `cells` span the columns `names`: as many as the names
    repeat ("2025 | 2024 | Change" twice: the last two, the first naming the row labels), else
    all of them where they divide the columns evenly; 0 where neither fits."""
    width = len(names)
    for period in range(1, width):
        if width % period == 0 and all(names[i] == names[i % period] for i in range(width)):
            return width // period if width // period <= cells else 0
    return cells if cells and width % cells == 0 and cells < width else 0

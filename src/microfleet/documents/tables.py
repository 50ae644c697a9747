"""Find the Markdown tables in a document's text, with their header, caption and section.

Converters write tables as pipe tables, not all alike: MarkItDown's .docx tables have an empty
header row, trafilatura puts a <caption> in a row of its own, markdownify may leave out the
separator. The reader is lenient: a run of lines that start and end with `|` is a table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SEPARATOR = re.compile(r"^\|?[\s:|-]*-[\s:|-]*\|?$")
_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_CAPTION = re.compile(r"^(table|exhibit|figure|schedule|note)\b", re.IGNORECASE)
_CURRENCY = re.compile(r"^[$€£¥]$")
_CLOSER = re.compile(r"^\)?%?\)?$")
_FIGURE = re.compile(r"^[($€£¥-]*\s*[\d.,]+\s*%?\)?%?$|^[\u2014\u2013-]$")
_YEAR = re.compile(r"^(?:19|20)\d\d$")
CAPTION_CHARS = 160  # a short line right above a table is its caption


@dataclass
class Table:
    headers: list[list[str]]  # one header row, or the few above the first row of figures
    rows: list[list[str]] = field(default_factory=list)
    caption: str = ""  # "Table 1: ...", or the short line right above the table
    section: str = ""  # the nearest Markdown heading above the table

    @property
    def header(self) -> list[str]:
        return self.headers[-1]

    @property
    def context(self) -> str:
        """What each part of the table repeats before its rows: its section and caption."""
        return " — ".join(part for part in (self.section, self.caption) if part)


Block = str | Table  # running text, or a table


def split_tables(text: str) -> list[Block]:
    """The text as running-text blocks and tables, in order; no table means one block."""
    blocks: list[Block] = []
    prose: list[str] = []
    section = ""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if not _is_row(lines[i]):
            heading = _HEADING.match(lines[i].strip())
            section = heading.group(1).strip() if heading else section
            prose.append(lines[i])
            i += 1
            continue
        start = i
        while i < len(lines) and _is_row(lines[i]):
            i += 1
        table = _table(lines[start:i], section, _caption_above(prose))
        if table is None:
            prose.extend(lines[start:i])
            continue
        before = _without_caption(prose, table.caption)
        if not only_headings(before):  # else the table's context carries its section
            blocks.append(before)
        prose = []
        blocks.append(table)
    if "\n".join(prose).strip():
        blocks.append("\n".join(prose).strip())
    return blocks


def only_headings(text: str) -> bool:
    """Nothing but Markdown headings (or nothing): no content of its own."""
    return all(_HEADING.match(line.strip()) for line in text.splitlines() if line.strip())


def _without_caption(prose: list[str], caption: str) -> str:
    """The text before a table, less what the table now carries: its caption lines and the
    headings right above it."""
    lines = _drop_trailing_headings(list(prose))
    for part in reversed(caption.split(" — ") if caption else []):
        if lines and lines[-1].strip() == part:
            lines = _drop_trailing_headings(lines[:-1])
    return "\n".join(lines).strip()


def _drop_trailing_headings(lines: list[str]) -> list[str]:
    while lines and (not lines[-1].strip() or _HEADING.match(lines[-1].strip())):
        lines = lines[:-1]
    return lines


def _is_row(line: str) -> bool:
    stripped = line.strip()
    return len(stripped) > 1 and stripped.startswith("|") and stripped.count("|") >= 2


def _cells(line: str) -> list[str]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") else inner
    return [cell.replace("**", "").replace("`", "").strip() for cell in inner.split("|")]


def _table(lines: list[str], section: str, caption: str) -> Table | None:
    rows = [_cells(line) for line in lines if not _SEPARATOR.match(line.strip())]
    rows = [row for row in rows if any(row)]
    # A first row with a single filled cell is a caption (trafilatura's <caption>).
    if len(rows) > 2 and sum(bool(c) for c in rows[0]) == 1 and len(rows[0]) > 1:
        caption = next(c for c in rows[0] if c)
        rows = rows[1:]
    if len(rows) < 2:
        return None  # a lone row is text with pipes in it
    rows = _regular(rows) if len({len(row) for row in rows}) == 1 else _ragged(rows)
    split = _first_figures(rows)
    return Table(headers=rows[:split], rows=rows[split:], caption=caption, section=section)


def _regular(rows: list[list[str]]) -> list[list[str]]:
    """Cells stay in their columns; columns empty in every row go (layout spacers), and a
    column of "$" signs or of ")" and "%" joins the figures beside it."""
    keep = [j for j in range(len(rows[0])) if any(row[j] for row in rows)]
    columns = [[row[j] for row in rows] for j in keep]
    merged: list[list[str]] = []
    pending: list[str] | None = None  # a column of currency signs, waiting for its figures
    for column in columns:
        filled = [cell for cell in column if cell]
        if all(_CURRENCY.match(cell) for cell in filled):
            pending = column
            continue
        if pending is not None:
            column = [a + b for a, b in zip(pending, column, strict=True)]
            pending = None
        if merged and all(_CLOSER.match(cell) for cell in filled):
            merged[-1] = [a + b for a, b in zip(merged[-1], column, strict=True)]
        else:
            merged.append(column)
    return [list(row) for row in zip(*merged, strict=True)] if merged else rows


def _ragged(rows: list[list[str]]) -> list[list[str]]:
    """Rows whose spans and spacer cells were lost (HTML filings): each row's filled cells,
    with "$" joined to the figure after it and ")" or "%" to the one before."""
    compact = []
    for row in rows:
        cells: list[str] = []
        for cell in (c for c in row if c):
            if cells and (_CLOSER.match(cell) or _CURRENCY.match(cells[-1])):
                cells[-1] += cell
            else:
                cells.append(cell)
        compact.append(cells)
    return compact


def _first_figures(rows: list[list[str]]) -> int:
    """How many rows head the table: those above the first row that is a label followed by
    figures, or a lone label ("Net sales:"); at most three, else the first row alone. Years
    are not figures there: "Millions | 2025 | 2024 | Change" names columns."""
    for i, row in enumerate(rows[:4]):
        values = [c for c in row[1:] if _FIGURE.match(c) and not _YEAR.match(c)]
        figures = not _FIGURE.match(row[0]) and bool(values)
        if i and (figures or (row[0] and not any(row[1:]))):
            return i
    return 1


def _caption_above(prose: list[str]) -> str:
    """The short lines right above the table (at most two: a statement's name and its units,
    say), or one that says "Table ..."; none across a heading or a long paragraph."""
    found: list[str] = []
    for line in reversed(prose):
        text = line.strip()
        if not text:
            continue
        if _HEADING.match(text) or not (len(text) <= CAPTION_CHARS or _CAPTION.match(text)):
            break
        found.insert(0, text)
        if len(found) == 2 or _CAPTION.match(text):
            break
    return " — ".join(found)


def grouped_rows(table: Table) -> list[list[str]]:
    """Rows under a group label ("Net sales:", "Cost of sales:") carry it in their own label,
    so that "Products" under each stays told apart once the table is cut into parts. A group
    ends at its "Total ..." row or at the next group label."""
    rows: list[list[str]] = []
    group = ""
    for row in table.rows:
        label, rest = (row[0], row[1:]) if row else ("", [])
        if label and not any(rest):
            group = label.rstrip(":").strip()
            rows.append(row)
            continue
        if group and label:
            row = [f"{group}: {label}", *rest]
        rows.append(row)
        if label.lower().startswith("total"):
            group = ""
    return rows


def render_row(row: list[str]) -> str:
    """One row as a Markdown row."""
    return "| " + " | ".join(row) + " |"


def render_header(headers: list[list[str]]) -> str:
    """The header rows and the separator, as each part of a table repeats them."""
    width = max(len(row) for row in headers)
    return "\n".join([*(render_row(row) for row in headers), "|" + "---|" * width])

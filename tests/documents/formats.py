"""Real files of each format, built with the libraries people make them with."""

from __future__ import annotations

import csv
import email.message
from pathlib import Path

HEADER = ("Project", "Budget (EUR thousands)")
TABLES = {  # a table of its own per format, so a search can tell the files apart
    ".docx": [("Harbour crane", "4,812"), ("Tunnel repair", "7,310"), ("Dock gates", "2,604")],
    ".xlsx": [("Solar farm", "12,450"), ("Wind park", "9,875"), ("Battery store", "3,310")],
    ".pptx": [("Copper cable", "1,204"), ("Fibre trunk", "3,366"), ("Radio mast", "2,018")],
    ".csv": [("Pension reserve", "55,100"), ("Bond coupon", "2,940"), ("Cash buffer", "8,800")],
    ".eml": [("Audit fee", "318"), ("Legal counsel", "1,075"), ("Tax advice", "642")],
    ".pdf": [("Grain silo", "6,020"), ("Cold storage", "8,455"), ("Loading ramp", "1,930")],
    ".html": [("Ferry terminal", "2,215"), ("Bus depot", "1,890"), ("Tram line", "14,600")],
}
CAPTION = "Table 1: Capital budget by project"


def _rows(suffix: str) -> list[tuple[str, str]]:
    return [HEADER, *TABLES[suffix]]


def write_all(directory: Path) -> dict[str, Path]:
    """One file per format in `directory`; returns them by suffix."""
    writers = {
        ".docx": _docx, ".xlsx": _xlsx, ".pptx": _pptx, ".csv": _csv,
        ".eml": _eml, ".pdf": _pdf, ".html": _html,
    }  # fmt: skip
    paths = {}
    for suffix, write in writers.items():
        path = directory / f"budget{suffix}"
        write(path, _rows(suffix))
        paths[suffix] = path
    return paths


def _docx(path: Path, rows: list[tuple[str, str]]) -> None:
    from docx import Document

    doc = Document()
    doc.add_heading("Port investment plan", 1)
    doc.add_paragraph("The port authority approved its capital budget for the coming year.")
    doc.add_paragraph(CAPTION)
    table = doc.add_table(rows=len(rows), cols=2)
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            table.cell(i, j).text = value
    doc.save(str(path))


def _xlsx(path: Path, rows: list[tuple[str, str]]) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Energy budget"
    for row in rows:
        sheet.append(list(row))
    book.save(path)


def _pptx(path: Path, rows: list[tuple[str, str]]) -> None:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Network investment"
    shape = slide.shapes.add_table(len(rows), 2, Inches(1), Inches(1.5), Inches(6), Inches(2))
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            shape.table.cell(i, j).text = value
    deck.save(str(path))


def _csv(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)


def _eml(path: Path, rows: list[tuple[str, str]]) -> None:
    message = email.message.EmailMessage()
    message["Subject"] = "Advisory budget for the audit committee"
    message["From"] = "cfo@example.com"
    message["To"] = "board@example.com"
    message["Date"] = "Tue, 01 Jul 2025 10:00:00 +0000"
    message.set_content("The advisory budget is attached as a table in the HTML version.")
    cells = "".join(f"<tr><td>{a}</td><td>{b}</td></tr>" for a, b in rows[1:])
    html = (
        f"<p>{CAPTION}</p><table><tr><th>{rows[0][0]}</th><th>{rows[0][1]}</th></tr>{cells}</table>"
    )
    message.add_alternative(html, subtype="html")
    path.write_bytes(bytes(message))


def _pdf(path: Path, rows: list[tuple[str, str]]) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.cell(0, 10, CAPTION, new_x="LMARGIN", new_y="NEXT")
    with pdf.table() as table:
        for row in rows:
            cells = table.row()
            for value in row:
                cells.cell(value)
    pdf.multi_cell(0, 7, "Storage projects were approved by the board in March.")
    pdf.output(str(path))


def _html(path: Path, rows: list[tuple[str, str]]) -> None:
    cells = "".join(f"<tr><td>{a}</td><td>{b}</td></tr>" for a, b in rows[1:])
    path.write_text(
        "<html><head><title>City transport budget</title></head><body><nav>Home | News</nav>"
        "<article><h1>City transport budget</h1><p>The council set out its transport spending "
        "for next year, project by project, in the table below.</p>"
        f"<table><caption>{CAPTION}</caption><tr><th>{rows[0][0]}</th><th>{rows[0][1]}</th></tr>"
        f"{cells}</table><p>The council votes on the plan in June.</p></article>"
        "<footer>Contact us</footer></body></html>"
    )

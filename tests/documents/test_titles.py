"""Titles from a document's opening, by the finance fleet's rules for SEC filings."""

from __future__ import annotations

import pytest

from microfleet.documents.parse import RawRecord, parse_record
from microfleet.documents.schema import Document
from microfleet.documents.titles import Titler
from microfleet.micromodel.documents import DocumentsSpec, TitleRule
from microfleet.micromodel.spec import load_fleet
from tests.conftest import REPO

FLEET = REPO / "fleets" / "finance" / "fleet.yaml"
FILINGS = REPO / "fleets" / "finance" / "eval" / "filings"


def cover(name: str, form: str, period: str | None) -> str:
    ended = f"For the {period}\n\n" if period else ""
    return (
        "UNITED STATES\n\nSECURITIES AND EXCHANGE COMMISSION\n\nWashington, D.C. 20549\n\n"
        f"FORM {form}\n\n{ended}Commission File Number: 001-12345\n\n{name}\n\n"
        "(Exact name of registrant as specified in its charter)\n\nDelaware\n\n"
        "Revenue grew in every segment."
    )


@pytest.fixture(scope="module")
def titler() -> Titler:
    return Titler(load_fleet(FLEET).documents)


@pytest.mark.parametrize(
    ("file", "title"),
    [
        (
            "apple-10-q-2025-06-28.html",
            "Apple Inc. 10-Q, quarterly period ended June 28, 2025",
        ),
        (
            "commonwealth-income-growth-fund-v-10-k-2015.html",
            "Commonwealth Income & Growth Fund V 10-K, Fiscal Year Ended December 31, 2015",
        ),
        (
            "medicis-10-k-1999.html",
            "Medicis Pharmaceutical Corporation 10-K, fiscal year ended June 30, 1999",
        ),
        (
            "nvidia-10-q-2025-07-27.html",
            "Nvidia Corporation 10-Q, quarterly period ended July 27, 2025",
        ),
        (
            "union-pacific-10-q-2025-06-30.html",
            "Union Pacific Corporation 10-Q, quarterly period ended June 30, 2025",
        ),
    ],
)
def test_real_filings_are_titled_from_their_cover_page(
    titler: Titler, file: str, title: str
) -> None:
    path = FILINGS / file
    doc = parse_record(RawRecord(ref=str(path), path=path), 10**8)
    assert doc.title != title  # the HTML <title> is a file name, "Form 10-K" or empty
    assert titler.retitle(doc).title == title


def test_a_cover_in_capitals_reads_as_a_name_and_keeps_its_form_number(titler: Titler) -> None:
    doc = Document(id="x", title="x", text=cover("**ACME WIDGETS, INC.**", "10-K", None))
    assert titler.retitle(doc).title == "Acme Widgets, Inc. 10-K"


def test_the_later_rule_serves_a_form_without_a_period(titler: Titler) -> None:
    doc = Document(id="x", title="x", text=cover("Acme Corp", "8-K", None))
    assert titler.retitle(doc).title == "Acme Corp 8-K"


def test_a_document_that_is_not_a_filing_keeps_its_title(titler: Titler) -> None:
    text = "Acme Corp filed its Form 10-K for the fiscal year ended March 31, 2025 on Monday."
    doc = Document(id="n", title="Acme files annual report", text=text)
    assert titler.retitle(doc).title == "Acme files annual report"


def test_a_rule_whose_fields_do_not_all_match_leaves_the_title_alone() -> None:
    rule = TitleRule(
        when="registrant",
        title="{name} ({ticker})",
        fields={"name": ["^(\\w+) registrant"], "ticker": ["ticker: (\\w+)"]},
    )
    doc = Document(id="d", title="kept", text="Acme registrant\nno symbol here")
    assert Titler(DocumentsSpec(titles=[rule])).retitle(doc).title == "kept"
    assert Titler().retitle(doc).title == "kept"  # no fleet: no rules

"""English words of a question that the answer depends on: what it sets side by side, and
whether it asks for a figure."""

from __future__ import annotations

import pytest

from microfleet.core.questions import (
    asks_amount,
    asks_change,
    asks_percentage,
    asks_reason,
    has_figure,
    has_level,
    has_percentage,
    names,
    sides,
)


def test_the_words_next_to_a_join_are_its_sides() -> None:
    assert sides("Which rose more, gold or copper?") == ["gold", "copper"]
    assert sides("Compare Northwind and Lumen Cloud.") == ["Northwind", "Lumen Cloud"]
    assert sides("Northwind vs. Lumen Cloud: who did better?") == ["Northwind", "Lumen Cloud"]
    assert sides("Did gold or copper rise more?") == ["gold", "copper rise more"]
    assert sides("What is the VAT in Germany and the Netherlands?") == ["Germany", "Netherlands"]


def test_a_join_with_an_empty_side_sets_nothing_side_by_side() -> None:
    assert sides("Which central banks cut rates and which held?") == []
    assert sides("What did the ECB decide?") == []
    assert sides("And then?") == []


def test_a_side_after_of_is_read_past_it() -> None:
    assert sides("What was the EPS of Apple and of Union Pacific?") == ["Apple", "Union Pacific"]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How much did gold rise?", True),
        ("How many cars are affected?", True),
        ("What share of revenue came from China?", True),
        ("What was Apple's effective tax rate in Q3?", True),
        ("What's the VAT rate in Spain?", True),
        ("What drove the rise in gold?", False),
        ("Why did the ECB hold rates?", False),
        ("Who leads the Bank of England?", False),
        ("What were its freight revenues in the second quarter of 2025?", True),
        ("What was the partnership's net loss for 2015?", True),
        ("What happened to Apple in 2025?", False),
        ("What was the mood at the meeting?", False),
        # No question word, and a period: its figure.
        ("Apple R&D expense third quarter 2025", True),
        ("Tell me NVIDIA's revenue for Q2.", True),
        ("Summarise Apple's third quarter of 2025.", False),
        ("Tell me about the second quarter of 2025.", False),
        ("And in 2024?", False),
        ("Gold prices?", False),
    ],
)
def test_a_question_that_asks_for_a_figure(question: str, expected: bool) -> None:
    assert asks_amount(question) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Effective tax rate: Three Months Ended June 28, 2025 16.4%", True),
        ("Brent rose 2% in 2025.", True),
        ("Revenue was $46,743 million.", True),
        ("Two policymakers dissented in favour of holding.", True),
        ("The rate for the third quarter of 2025 was lower.", False),
        ("The rate rose on 1 July and again on Sept. 30.", False),
        ("Sales grew in Q2 2025.", False),
        ("The rate for the first nine months of 2025 was lower.", False),
        ("Margins for the three- and nine-month periods were as follows:", False),
    ],
)
def test_a_figure_is_not_a_year_or_a_day(text: str, expected: bool) -> None:
    assert has_figure(text) is expected


@pytest.mark.parametrize(
    ("question", "reason", "change", "percentage"),
    [
        ("Why did Union Pacific's other revenues fall?", True, True, False),
        ("What drove the increase in services revenue?", True, True, False),
        ("How much did gold rise?", False, True, False),
        ("By how much did net sales change?", False, True, False),
        ("How much intermodal revenue did UP earn?", False, False, False),
        ("How much cash did Income & Growth Fund V hold?", False, False, False),
        ("What was the gross margin percentage?", False, False, True),
        ("What % of sales came from China?", False, False, True),
        ("What share of revenue came from its largest customer?", False, False, True),
        ("What were the diluted earnings per share of Apple?", False, False, False),
    ],
)
def test_what_kind_of_answer_a_question_asks(
    question: str, reason: bool, change: bool, percentage: bool
) -> None:
    assert (asks_reason(question), asks_change(question)) == (reason, change)
    assert asks_percentage(question) is percentage


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("Freight revenues increased 4%, driven by 4% volume increases.", False),
        ("Net income rose 59% from a year ago.", False),
        ("Revenue was up 50 basis points.", False),
        ("It was driven by a 68% and 69% increase in compute.", False),
        ("Mexico revenues increased 1% to $751 million.", True),
        ("Data Center compute revenue was $33.8 billion, up 50%.", True),
        ("The effective tax rate was 16.4%.", True),
        ("Sales to Customer A represented 23% of total revenue.", False),
        ("Sales to its top customers represented 14%, 11%, 11%, and 10% of revenue.", False),
        ("Sales outside the US accounted for 50% and 51% of total revenue.", False),
        ("Gross margin was 72.4% of revenue.", True),  # a level stated as a share of its base
    ],
)
def test_a_level_is_a_figure_that_is_not_only_a_change(text: str, level: bool) -> None:
    assert has_level(text) is level
    assert has_percentage(text) is ("%" in text)


@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("What is the VAT rate in Switzerland?", ["Switzerland"]),
        ("Norway's standard VAT rate?", ["Norway"]),
        ("Who dissented at the Bank of England?", ["Bank of England"]),
        ("What did the Swiss National Bank decide?", ["Swiss National Bank"]),
        ("Compare Apple and Microsoft.", ["Apple", "Microsoft"]),
        ("Up to what share of its cost may it borrow?", []),  # a first word, not a name
        ("What is the VAT rate in the UK?", []),  # acronyms are often spelled out
        ("What's the cap on US tariffs?", []),  # "what is", not a possessive
        ("What's Norway's standard rate?", ["Norway"]),
    ],
)
def test_the_names_a_question_uses(question: str, named: list[str]) -> None:
    assert names(question) == named

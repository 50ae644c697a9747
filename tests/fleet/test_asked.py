"""What a question asks of typed results, read from its words: ends, statistics, bounds,
counts, how many to name and the order."""

from __future__ import annotations

from microfleet.fleet.asked import Bound, read_question

LABELS = ["France", "Germany", "Malta", "Hungary"]


def test_bounds_are_read_with_their_numbers_and_do_not_read_as_extremes() -> None:
    asked = read_question("How many countries have a VAT rate above 22%?", LABELS)
    assert asked.count and asked.bounds == [Bound(">", 22.0)] and asked.ends == []
    assert read_question("Which charge more than 24 percent?").bounds == [Bound(">", 24.0)]
    assert read_question("Which charge more than 24 percent?").ends == []
    assert read_question("Which charge 25% or more?").bounds == [Bound(">=", 25.0)]
    assert read_question("Rates of at most 1,000.5?").bounds == [Bound("<=", 1000.5)]
    assert read_question("Which are between 21 and 19.5 %?").bounds == [
        Bound("between", 19.5, 21.0)
    ]


def test_a_bound_may_be_a_label_over_three_or_more_results() -> None:
    asked = read_question("Which have a lower VAT rate than France?", LABELS)
    assert asked.bounds == [Bound("<", "France")] and asked.ends == []
    over_two = read_question("Is Germany's rate lower than France's?", ["Germany", "France"])
    assert over_two.bounds == [] and over_two.ends == ["low"]


def test_statistics_order_and_how_many_to_name() -> None:
    assert read_question("What is the average rate?").stats == ["mean"]
    assert read_question("The median and the spread?").stats == ["median", "difference"]
    assert read_question("Rank them from highest to lowest.").descending
    assert read_question("Rank them, highest first.").descending
    assert not read_question("Rank them.").descending
    three = read_question("List the three EU countries with the lowest VAT.")
    assert (three.ends, three.top) == (["low"], 3)
    assert read_question("Top 5 by rate, highest first?").top == 5
    assert read_question("Which of the 27 member states has the lowest VAT?").top is None


def test_a_place_from_an_end_is_read_as_a_rank() -> None:
    second = read_question("What's the second highest VAT rate in the EU?")
    assert (second.ends, second.rank, second.top) == (["high"], 2, None)
    assert read_question("Which has the 3rd-lowest rate?").rank == 3
    assert read_question("The fifth most expensive?").rank == 5
    assert read_question("Rates in the second quarter, lowest first?").rank is None
    assert read_question("Which has the highest rate?").rank is None


def test_higher_than_the_average_asks_for_the_average_not_an_end() -> None:
    asked = read_question("Does Ireland have a higher VAT than the EU average?", LABELS)
    assert (asked.stats, asked.ends, asked.bounds) == (["mean"], [], [])
    assert read_question("Which are below the median?").stats == ["median"]


def test_how_much_higher_asks_for_the_difference() -> None:
    two = ["Denmark", "Germany"]
    assert read_question("How much higher is Denmark's VAT than Germany's?", two).stats == [
        "difference"
    ]
    assert read_question("By how much does Denmark's rate exceed Germany's?", two).stats == [
        "difference"
    ]
    assert read_question("How many points lower is Germany's rate?", two).stats == ["difference"]
    assert read_question("How much VAT does Germany charge?", two).stats == []
    against = read_question("How much higher than the average is Denmark's rate?", LABELS)
    assert against.stats == ["mean"]


def test_a_bare_value_with_its_unit_asks_for_the_results_at_that_value() -> None:
    assert read_question("Which EU countries charge 21% VAT?", LABELS).bounds == [Bound("=", 21.0)]
    assert read_question("Who has a 25 percent rate?").bounds == [Bound("=", 25.0)]
    assert read_question("Which raised VAT by 2%?").bounds == []
    assert read_question("Which is 2 percentage points higher?").bounds == []
    assert read_question("Which charge more than 24%?").bounds == [Bound(">", 24.0)]
    assert read_question("What did the 2025 budget change?").bounds == []

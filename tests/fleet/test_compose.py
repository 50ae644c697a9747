"""The composer's facts: typed results ordered by their numeric field, with the extremes named;
untyped and failed results kept as they are."""

from __future__ import annotations

from microfleet.fleet.compose import Fact, facts_block, numeric_fields

RETURNS = {
    "type": "object",
    "properties": {"country": {"type": "string"}, "rate": {"type": "number"}},
}


def _fact(label: str, rate: float | None, error: str | None = None) -> Fact:
    data = None if rate is None else {"country": label, "rate": rate}
    sentence = None if rate is None else f"The rate in {label} is {rate:g}%."
    return Fact(label, "rates", sentence, data, numeric_fields(RETURNS), " [1]", error)


def test_typed_results_are_ordered_with_their_extremes() -> None:
    facts = [_fact("France", 20), _fact("Germany", 19), _fact("Finland", 25.5), _fact("Malta", 18)]
    lines = facts_block(facts).splitlines()
    assert lines[0] == "Ordered by rate, lowest first:"
    assert lines[1:5] == [
        "1. The rate in Malta is 18%. [1]",
        "2. The rate in Germany is 19%. [1]",
        "3. The rate in France is 20%. [1]",
        "4. The rate in Finland is 25.5%. [1]",
    ]
    assert lines[5:] == ["Lowest rate: Malta (18).", "Highest rate: Finland (25.5)."]


def test_ties_are_all_named_and_failures_stay_missing() -> None:
    facts = [_fact("Latvia", 21), _fact("Spain", 21), _fact("Austria", 20), _fact("Cyprus", None)]
    facts[3].error = "timed out"
    block = facts_block(facts)
    assert "Highest rate: Latvia and Spain (21)." in block
    assert "- Cyprus: missing (timed out)" in block


def test_a_single_or_untyped_result_is_its_sentence() -> None:
    one = facts_block([_fact("Malta", 18)])
    assert one == "- The rate in Malta is 18%. [1]"
    plain = Fact("oil", "news", "Oil rose 2%.", None, [], " [2]")
    assert facts_block([plain, plain]) == "- Oil rose 2%. [2]\n- Oil rose 2%. [2]"


def test_comparison_words_pick_the_end_asked_for() -> None:
    from microfleet.fleet.asked import read_question

    def asked_extremes(question: str) -> list[str]:
        return read_question(question).ends

    assert asked_extremes("Which country is cheapest for VAT?") == ["low"]
    assert asked_extremes("Where is VAT most expensive?") == ["high"]
    assert asked_extremes("Which charges less, and which charges the most?") == ["low", "high"]
    assert asked_extremes("What are the VAT rates across the EU?") == []


def test_a_typed_answer_leads_with_what_was_asked() -> None:
    from microfleet.fleet.compose import aggregate_answer

    facts = [_fact("France", 20), _fact("Germany", 19)]
    answer = aggregate_answer("Which has the lower rate, Germany or France?", facts)
    assert answer is not None
    assert answer.startswith("Germany has the lower rate (19).\n\nOrdered by rate")
    assert "Highest rate" not in answer  # no summary of what was not asked
    many = [_fact(c, r) for c, r in [("Malta", 18), ("Hungary", 27), ("Spain", 21)]]
    assert (aggregate_answer("Which has the highest rate?", many) or "").startswith(
        "Hungary has the highest rate (27)."
    )
    listed = aggregate_answer("What are the rates?", many) or ""
    assert listed.endswith("Lowest rate: Malta (18).\nHighest rate: Hungary (27).")
    assert aggregate_answer("Malta?", [_fact("Malta", 18)]) == "The rate in Malta is 18%. [1]"


def test_a_missing_part_leaves_the_answer_to_the_composer() -> None:
    from microfleet.fleet.compose import aggregate_answer

    failed = _fact("Cyprus", None, "timed out")
    assert aggregate_answer("Which is lowest?", [_fact("Malta", 18), failed]) is None
    lost = Fact("gold", "news", None, None, [], "", "timed out")
    assert aggregate_answer("Oil and gold?", [lost]) is None


def test_typed_and_prose_results_are_answered_in_their_own_words() -> None:
    """No composer when every part is there: each prose result once, then the typed answer."""
    from microfleet.fleet.compose import aggregate_answer

    prose = Fact("oil", "news", "Oil rose 2%.", None, [], " [2]")
    gold = Fact("gold", "news", "Gold set a record.", None, [], " [3]")
    malta = _fact("Malta", 18)
    mixed = aggregate_answer("What about oil and Malta?", [malta, prose])
    assert mixed == f"Oil rose 2%. [2]\n\n{malta.sentence} [1]"
    assert aggregate_answer("And oil twice?", [prose, prose]) == "Oil rose 2%. [2]"
    assert aggregate_answer("Oil and gold?", [prose, gold]) == (
        "Oil rose 2%. [2]\n\nGold set a record. [3]"
    )
    # two micromodels quoting one sentence, one with its disclaimer after it: said once
    advice = Fact("gold", "advice", "Gold set a record. Not advice.", None, [], " [3]")
    assert aggregate_answer("Buy gold?", [gold, advice]) == "Gold set a record. Not advice. [3]"


def test_one_prose_result_is_the_answer_in_whole_sentences() -> None:
    from microfleet.fleet.compose import aggregate_answer, whole_sentences

    prose = Fact("oil", "news", "Oil rose 2%.", None, [], " [2]")
    assert aggregate_answer("What happened to oil?", [prose]) == "Oil rose 2%. [2]"
    assert whole_sentences("Gold rose to 4,000 dollars.\n2. It") == "Gold rose to 4,000 dollars."
    assert whole_sentences("A rate of 2.5 stays. Then") == "A rate of 2.5 stays."
    assert whole_sentences("No sentence ends here") == "No sentence ends here"


def test_a_tie_asked_about_is_stated_once() -> None:
    from microfleet.fleet.compose import aggregate_answer

    tie = [_fact("Denmark", 25), _fact("Sweden", 25)]
    answer = aggregate_answer("Is VAT higher in Sweden or in Denmark?", tie) or ""
    assert answer.count("have the same rate (25)") == 1
    assert answer.startswith("Denmark and Sweden have the same rate (25).\n\nOrdered by rate")


def _many() -> list[Fact]:
    rates = {"Malta": 18, "Hungary": 27, "Spain": 21, "France": 20, "Germany": 19, "Latvia": 21}
    return [_fact(country, rate) for country, rate in rates.items()]


def first(question: str) -> str:
    """The first line of the answer over `_many()`."""
    from microfleet.fleet.compose import aggregate_answer

    return (aggregate_answer(question, _many()) or "").splitlines()[0]


def test_statistics_bounds_and_counts_lead_the_answer() -> None:
    from microfleet.fleet.compose import aggregate_answer

    assert first("What is the average rate?") == "The average rate over 6 is 21."
    assert first("And the median rate?") == "The median rate over 6 is 20.5."
    assert first("How many have a rate above 20%?") == (
        "3 of 6 have a rate above 20: Latvia (21), Spain (21), Hungary (27)."
    )
    assert first("Which have a lower rate than France?") == (
        "2 of 5 have a rate below France's (20): Malta (18), Germany (19)."
    )
    assert first("Which charge 30% or more?") == "None of the 6 has a rate of at least 30."
    assert first("Which have the same rate as Latvia?") == (
        "1 of 5 has a rate equal to Latvia's (21): Spain (21)."
    )
    assert first("The two lowest rates?") == "The 2 lowest rates: Malta (18), Germany (19)."
    assert first("The top 2, highest first?") == (
        "The 2 highest rates, ties included: Hungary (27), Latvia (21), Spain (21)."
    )
    assert first("What is the gap between the highest and lowest?") == (
        "Hungary has the highest rate (27)."
    )
    assert "a difference of 9." in (aggregate_answer("What is the spread?", _many()) or "")


def test_two_results_give_their_difference_and_one_its_bound() -> None:
    from microfleet.fleet.compose import aggregate_answer

    two = [_fact("Germany", 19), _fact("France", 20)]
    answer = aggregate_answer("What is the difference between them?", two) or ""
    assert answer.startswith("France's rate is 1 above Germany's (20 against 19).")
    one = aggregate_answer("Is it above 25%?", [_fact("Hungary", 27)])
    assert one == "Hungary's rate (27) is above 25.\nThe rate in Hungary is 27%. [1]"


def test_a_ranking_asked_highest_first_is_ordered_so() -> None:
    from microfleet.fleet.compose import facts_block

    lines = facts_block(_many(), "Rank them, highest first.").splitlines()
    assert lines[0] == "Hungary has the highest rate (27)."
    assert lines[1] == "Ordered by rate, highest first:"
    assert lines[2] == "1. The rate in Hungary is 27%. [1]"
    assert lines[7] == "6. The rate in Malta is 18%. [1]"


def test_a_named_result_is_placed_against_the_average_asked_for() -> None:
    from microfleet.fleet.compose import aggregate_answer

    answer = aggregate_answer("Is Germany's rate above the average?", _many()) or ""
    assert answer.startswith(
        "The average rate over 6 is 21.\nGermany's rate (19) is below the average (21).\n"
    )


def test_a_named_result_among_others_gets_its_place() -> None:
    from microfleet.fleet.compose import aggregate_answer

    answer = aggregate_answer("How does Germany's rate compare with the others?", _many()) or ""
    assert answer.startswith("Germany's rate (19) is the 2nd lowest of 6 (the average is 21).")
    tied = aggregate_answer("And Spain against the rest?", _many()) or ""
    assert tied.startswith("Spain's rate (21) is the joint 4th lowest of 6")


def test_a_place_asked_for_names_the_result_there_and_its_ties() -> None:
    assert first("Which has the second highest rate?") == (
        "Latvia and Spain have the 2nd highest rate (21), tied at places 2 to 3."
    )
    assert first("And the 2nd lowest?") == "Germany has the 2nd lowest rate (19)."
    assert first("The third highest?") == (
        "Latvia and Spain have the 3rd highest rate (21), tied at places 2 to 3."
    )
    assert first("The tenth lowest?") == "There is no 10th lowest rate: there are 6."


def test_a_named_result_asked_against_an_end_or_the_average_is_placed() -> None:
    from microfleet.fleet.compose import aggregate_answer

    def lead(question: str) -> list[str]:
        return (aggregate_answer(question, _many()) or "").split("\n\n")[0].splitlines()

    assert lead("Is Germany's rate among the lowest?") == [
        "Malta has the lowest rate (18).",
        "Germany's rate (19) is the 2nd lowest of 6 (the average is 21).",
    ]
    assert lead("Is Hungary's rate the highest of them?") == ["Hungary has the highest rate (27)."]
    assert lead("Does Spain have a higher rate than the average?") == [
        "The average rate over 6 is 21.",
        "Spain's rate (21) is at the average (21).",
    ]


def test_how_much_higher_gives_the_gap_and_a_bare_value_its_holders() -> None:
    from microfleet.fleet.compose import aggregate_answer

    two = [_fact("Germany", 19), _fact("Denmark", 25)]
    answer = aggregate_answer("How much higher is Denmark's VAT than Germany's?", two) or ""
    assert answer.splitlines()[:2] == [
        "Denmark has the higher rate (25).",
        "Denmark's rate is 6 above Germany's (25 against 19).",
    ]
    assert first("Which countries charge 21% VAT?") == (
        "2 of 6 have a rate equal to 21: Latvia (21), Spain (21)."
    )

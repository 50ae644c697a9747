"""English words of a question that the answer depends on: what it sets side by side."""

from __future__ import annotations

from microfleet.core.questions import sides


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

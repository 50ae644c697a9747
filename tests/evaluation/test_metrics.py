"""The metrics on hand-computed cases."""

from __future__ import annotations

import pytest

from microfleet.evaluation.metrics import (
    document_ranking,
    exact_match,
    faithfulness,
    hit_at,
    normalize_answer,
    numeric_match,
    recall_at,
    reciprocal_rank,
    rouge_l,
    token_f1,
)


def test_exact_match_uses_squad_normalisation() -> None:
    assert normalize_answer("The  Euro!") == "euro"
    assert exact_match("the euro.", ["Euro"]) == 1.0
    assert exact_match("euros", ["euro"]) == 0.0
    assert exact_match("19%", ["20%", "19 %"]) == 1.0  # the best of several references


def test_token_f1_by_hand() -> None:
    # prediction tokens [cat, sat], reference [cat, sat, down]: P = 1, R = 2/3, F1 = 0.8
    assert token_f1("The cat sat", ["cat sat down"]) == pytest.approx(0.8)
    assert token_f1("dog", ["cat"]) == 0.0
    assert token_f1("", [""]) == 1.0


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [("25%", "25 percent"), ("25 percent", "0.25"), ("0.25", "25%"), ("25 per cent", "25%"),
     ("25,5 %", "25.5%"), ("EUR 10,000", "10000 euros"), ("1.5 million", "1,500,000")],
)  # fmt: skip
def test_numeric_match_normalises_units(prediction: str, reference: str) -> None:
    assert numeric_match(f"The figure is {prediction}.", [reference]) == 1.0


def test_numeric_match_needs_every_number_and_skips_references_without_one() -> None:
    assert numeric_match("Germany 19%", ["19% in Germany and 20% in France"]) == 0.0
    assert numeric_match("19% and 20%", ["19% in Germany and 20% in France"]) == 1.0
    assert numeric_match("24%", ["25%"]) == 0.0
    assert numeric_match("anything", ["no numbers here"]) is None


def test_rouge_l_and_faithfulness() -> None:
    assert rouge_l("the standard rate is 19%", ["the standard rate is 19%"]) == pytest.approx(1.0)
    # content tokens: germany, charges, 19, vat; all but "charges" are in the context
    assert faithfulness("Germany charges 19 VAT", "VAT in Germany is 19%") == pytest.approx(0.75)
    assert faithfulness("the and of", "anything") is None


def test_ranking_metrics_by_hand() -> None:
    ranked = document_ranking(["a", "b", "a", "c", "d"])
    assert ranked == ["a", "b", "c", "d"]
    assert hit_at(ranked, {"c"}, 1) == 0.0 and hit_at(ranked, {"c"}, 3) == 1.0
    assert reciprocal_rank(ranked, {"c"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(ranked, {"z"}) == 0.0
    assert recall_at(ranked, {"b", "d", "z"}, 2) == pytest.approx(1 / 3)

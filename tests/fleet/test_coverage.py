"""What a question asks beyond its micromodels, on the finance fleet's own spec."""

from __future__ import annotations

import pytest

from microfleet.fleet.coverage import Coverage
from microfleet.knowledge.sparse import Bm25Encoder
from microfleet.micromodel.spec import load_fleet
from tests.conftest import REPO


@pytest.fixture(scope="module")
def coverage() -> Coverage:
    return Coverage(load_fleet(REPO / "fleets/finance/fleet.yaml"), Bm25Encoder())


@pytest.mark.parametrize(
    "question",
    [
        "What was Estonia's VAT rate before the increase?",
        "What rate will Ireland apply to restaurant food?",
        "Into what single rate did Romania merge its reduced VAT rates?",
        "What is the standard VAT rate in Estonia? What was it before?",  # a stop word to BM25
    ],
)
def test_a_question_about_more_than_the_standard_rate_asks_beyond(
    coverage: Coverage, question: str
) -> None:
    assert coverage.beyond(question, ["tax_rates"])


@pytest.mark.parametrize(
    "question",
    [
        "What is the VAT rate in Estonia?",
        "How much VAT does Sweden charge?",
        "What's the second highest VAT rate in the EU?",
        "How many EU countries have VAT above 20%?",
        "Does Ireland have a higher VAT than the EU average?",
        "Rank Italy, Spain and Portugal by VAT",
        "Which is cheaper for VAT, Malta or Cyprus?",
    ],
)
def test_what_a_micromodel_and_the_comparisons_answer_is_covered(
    coverage: Coverage, question: str
) -> None:
    assert not coverage.beyond(question, ["tax_rates"])

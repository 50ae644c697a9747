"""The feedback store on real SQLite: answers recorded, ratings joined to them, counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from microfleet.errors import UserError
from microfleet.feedback.store import AnswerRecord, FeedbackStore, UnknownResponse

FLEET_TRACE = {
    "router": "semantic",
    "calls": [
        {"name": "tax_rates", "arguments": {"country": "France"}, "output": "20%"},
        {"name": "tax_rates", "arguments": {"country": "Germany"}, "output": "19%"},
        {"name": "market_news", "arguments": {"topic": "x"}, "output": None, "error": "timed out"},
    ],
}


@pytest.fixture
def feedback_url(tmp_path: Path) -> str:
    """SQLite in a directory that does not exist yet (tests/scale runs this on PostgreSQL)."""
    return f"sqlite:///{tmp_path / 'sub' / 'feedback.db'}"


def test_ratings_are_stored_with_the_answer_they_rate(feedback_url: str) -> None:
    store = FeedbackStore(feedback_url)
    store.record(AnswerRecord("a1", "tax_rates", "VAT in Malta?", "18%", [{"index": 1}]))
    store.record(AnswerRecord("a1", "tax_rates", "recorded twice", "ignored"))
    store.record(AnswerRecord("f1", "fleet", "France or Germany?", "Germany", [], FLEET_TRACE))

    first = store.add("a1", -1, "  Malta: 18%.  ", None)
    second = store.add("f1", 1, None, "good")
    assert (first.id, first.correction, first.response.question) == (
        1,
        "Malta: 18%.",
        "VAT in Malta?",
    )
    assert second.response.micromodels() == ["tax_rates"]  # the failed call taught nothing

    entries = store.entries()
    assert [e.id for e in entries] == [2, 1]  # newest first
    assert entries[0].response.trace == FLEET_TRACE
    assert entries[1].response.sources == [{"index": 1}]
    assert [e.id for e in store.entries("tax_rates")] == [2, 1]
    assert store.entries("market_news") == []
    assert store.counts()["tax_rates"] == {"up": 1, "down": 1, "corrections": 1}
    assert store.counts()["fleet"] == {"up": 1, "down": 0, "corrections": 0}
    assert entries[0].as_dict()["response_id"] == "f1"

    with pytest.raises(UnknownResponse, match="no answer with id 'nope'"):
        store.add("nope", 1, None, None)
    with pytest.raises(UserError, match="rating must be 1"):
        store.add("a1", 0, None, None)
    store.close()

    reopened = FeedbackStore(feedback_url)
    assert len(reopened.entries()) == 2  # on disk
    reopened.close()

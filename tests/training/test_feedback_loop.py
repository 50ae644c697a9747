"""Feedback -> dataset -> train on a tiny real run: corrected and approved answers join the
train split (never the test split), and the next training run uses them."""

from __future__ import annotations

import json

import pytest

from microfleet.config import Settings
from microfleet.feedback.store import AnswerRecord, FeedbackStore
from microfleet.micromodel.spec import FleetSpec
from microfleet.training.dataset import assert_no_leak, normalize_question
from microfleet.training.registry import tracking
from microfleet.training.runs import run_training
from microfleet.training.service import generate_dataset, models_overview


def _rate(store: FeedbackStore, rid: str, model: str, question: str, rating: int, **kw) -> None:
    trace = kw.pop("trace", None)
    store.record(AnswerRecord(rid, model, question, kw.pop("answer", "an answer"), [], trace))
    store.add(rid, rating, kw.pop("correction", None), None)


@pytest.mark.slow
def test_feedback_joins_the_train_split_and_the_next_run(
    settings: Settings, tiny_fleet: FleetSpec
) -> None:
    spec = tiny_fleet.get("rates")
    plain = generate_dataset(settings, tiny_fleet, spec)
    in_test, in_train = plain.test[0].question, plain.train[0].question

    store = FeedbackStore(settings.feedback_db_url)
    call = {"name": "rates", "arguments": {"country": "Germany"}, "output": "Germany: 19%."}
    _rate(store, "r1", "rates", "What is the rate in Estonia?", -1, correction="It is 22%.")
    _rate(store, "r2", "fleet", "Germany?", 1, trace={"calls": [call]})
    _rate(store, "r3", "rates", in_test, -1, correction="kept out of training")
    _rate(store, "r4", "rates", in_train, -1, correction="A person's answer.")
    _rate(store, "r5", "rates", "What is the rate in Estonia?", 1)  # newer than r1: it wins
    _rate(store, "r6", "rates", "Ignored?", -1)  # thumbs-down, no correction
    store.close()

    result = generate_dataset(settings, tiny_fleet, spec, with_feedback=True)
    assert result.feedback is not None
    counts = (result.feedback.added, result.feedback.replaced, result.feedback.held_out)
    assert counts == (2, 1, 1) and result.feedback.duplicates == 1
    assert [p.question for p in result.test] == [p.question for p in plain.test]
    assert_no_leak(result.train, result.test)
    answers = {normalize_question(p.question): p for p in result.train}
    assert answers[normalize_question("What is the rate in Estonia?")].answer == "an answer"
    assert answers[normalize_question("What is the rate in Germany?")].answer == "Germany: 19%."
    assert answers[normalize_question(in_train)].answer == "A person's answer."
    assert "kept out of training" not in {p.answer for p in result.train}
    meta = json.loads((result.directory / "meta.json").read_text())
    assert meta["feedback"]["added"] == 2 and meta["hash"] == result.content_hash

    summary = run_training(settings, tiny_fleet, spec, max_steps=2)
    params = tracking(settings).get_run(summary.run_id).data.params
    assert params["dataset_hash"] == result.content_hash
    assert params["feedback_pairs"] == "3"
    assert params["train_pairs"] == str(len(plain.train) + 2)

    overview = {e["micromodel"]: e["feedback"] for e in models_overview(settings, tiny_fleet)}
    assert overview["rates"] == {"up": 2, "down": 4, "corrections": 3}
    assert overview["news"] == {"up": 0, "down": 0, "corrections": 0}

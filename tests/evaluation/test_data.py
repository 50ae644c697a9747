"""Labelled sets: malformed lines are reported with their line numbers and skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from microfleet.errors import UserError
from microfleet.evaluation.data import answer_row, load_set, retrieval_row, routing_row


def test_malformed_lines_are_skipped_with_their_numbers(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(
        '{"question": "Q1", "answer": "19%", "extra": 1}\n'
        "not json\n"
        "\n"
        '{"question": "", "answer": "x"}\n'
        '["a list"]\n'
        '{"question": "Q2", "answer": ["a", "b"]}\n'
    )
    labelled = load_set(path, answer_row)
    assert [r["answers"] for r in labelled.rows] == [["19%"], ["a", "b"]]
    assert [s.split(":")[0] for s in labelled.skipped] == ["line 2", "line 4", "line 5"]


def test_an_answer_row_may_carry_the_questions_asked_before_it() -> None:
    row = answer_row({"before": ["What is Germany's VAT rate?"], "question": "And France's?",
                      "answer": "20%"})  # fmt: skip
    assert row["before"] == ["What is Germany's VAT rate?"]
    assert answer_row({"question": "Q", "answer": "1"})["before"] == []
    with pytest.raises(ValueError, match="before"):
        answer_row({"before": [1], "question": "Q", "answer": "1"})


def test_each_kind_names_the_field_it_needs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="relevant_ids"):
        retrieval_row({"question": "Q", "relevant_ids": []})
    with pytest.raises(ValueError, match="calls"):
        routing_row({"question": "Q", "calls": "tax_rates"})
    with pytest.raises(UserError, match="cannot read"):
        load_set(tmp_path / "missing.jsonl", retrieval_row)

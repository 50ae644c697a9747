"""Labelled sets (JSONL): malformed lines are reported with their line numbers and skipped."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microfleet.errors import EmptySetError, UserError


@dataclass
class LabelledSet:
    rows: list[dict[str, Any]]
    skipped: list[str] = field(default_factory=list)  # "line N: why"


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, str) and value.strip():
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return list(value)
    return None


def _question(row: dict[str, Any]) -> str:
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("'question' must be a non-empty string")
    return question


def retrieval_row(row: dict[str, Any]) -> dict[str, Any]:
    question, ids = _question(row), _strings(row.get("relevant_ids"))
    if ids is None:
        raise ValueError("'relevant_ids' must be a non-empty list of doc ids")
    return {"question": question, "relevant_ids": ids}


def answer_row(row: dict[str, Any]) -> dict[str, Any]:
    question, answers = _question(row), _strings(row.get("answer"))
    if answers is None:
        raise ValueError("'answer' must be a string or a list of strings")
    before = _strings(row["before"]) if "before" in row else []
    if before is None:
        raise ValueError("'before' must be a list of strings (the user's earlier questions)")
    return {
        "question": question,
        "answers": answers,
        "relevant_ids": row.get("relevant_ids"),
        "before": before,
    }


def routing_row(row: dict[str, Any]) -> dict[str, Any]:
    question, calls = _question(row), row.get("calls")
    if not isinstance(calls, list) or not all(
        isinstance(c, dict) and isinstance(c.get("name"), str) for c in calls
    ):
        raise ValueError("'calls' must be a list of {name, arguments}")
    return {"question": question, "calls": calls}


def load_set(path: Path, parse: Callable[[dict[str, Any]], dict[str, Any]]) -> LabelledSet:
    """Every valid line; an unreadable file is a UserError, a set with no valid line an
    EmptySetError (the CLI exits 1)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    labelled = LabelledSet([])
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            labelled.rows.append(parse(row))
        except (ValueError, TypeError) as exc:
            labelled.skipped.append(f"line {number}: {exc}")
    if not labelled.rows:
        raise EmptySetError(f"{path} has no valid question ({len(labelled.skipped)} lines skipped)")
    return labelled

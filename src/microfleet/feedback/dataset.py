"""Human feedback as training pairs for one micromodel.

- An answer of the micromodel itself: a correction is the answer to learn; a thumbs-up
  keeps the answer as recorded: the model's words, its sources and calls kept apart as data.
- A `fleet` answer: a thumbs-up keeps each of this micromodel's call outputs, asked as the
  call's question. A correction counts only when the answer came from a single call to this
  micromodel, since a correction of an answer composed from several calls is no one call's.
- A thumbs-down without a correction teaches nothing and is skipped.
A micromodel that returns typed results learns JSON: a call's typed result, or an answer or
correction that is valid JSON under its schema; other text cannot teach it and is skipped.
The newest feedback on a question wins; merging into the splits is the training pipeline's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from microfleet.feedback.store import FLEET_MODEL, FeedbackEntry
from microfleet.micromodel.spec import MicromodelSpec


@dataclass(frozen=True)
class FeedbackPair:
    question: str
    answer: str
    feedback_id: int
    corrected: bool


def feedback_pairs(entries: list[FeedbackEntry], spec: MicromodelSpec) -> list[FeedbackPair]:
    """The pairs `entries` (newest first, as the store lists them) teach `spec`."""
    pairs = (pair for entry in entries for pair in _pairs(entry, spec))
    return [pair for pair in pairs if spec.returns is None or _valid(pair.answer, spec.returns)]


def _valid(text: str, schema: dict[str, Any]) -> bool:
    from jsonschema import Draft202012Validator

    try:
        return bool(Draft202012Validator(schema).is_valid(json.loads(text)))
    except json.JSONDecodeError:
        return False


def _pairs(entry: FeedbackEntry, spec: MicromodelSpec) -> Iterator[FeedbackPair]:
    response = entry.response
    if entry.rating < 0 and not entry.correction:
        return
    if response.model == spec.name:
        answer = entry.correction or response.answer
        yield FeedbackPair(response.question, answer.strip(), entry.id, bool(entry.correction))
        return
    if response.model != FLEET_MODEL:
        return
    calls = [
        c
        for c in (response.trace or {}).get("calls", [])
        if c.get("name") == spec.name and c.get("output") is not None
    ]
    if entry.correction:
        if len(calls) == 1 and response.micromodels() == [spec.name]:
            yield FeedbackPair(response.question, entry.correction.strip(), entry.id, True)
        return
    for call in calls:
        question = spec.question_for(call.get("arguments") or {})
        said = json.dumps(call["data"]) if call.get("data") is not None else call["output"]
        yield FeedbackPair(question, str(said).strip(), entry.id, False)

"""Which feedback becomes a training pair for which micromodel, and how."""

from __future__ import annotations

from microfleet.feedback.dataset import feedback_pairs
from microfleet.feedback.store import AnswerRecord, FeedbackEntry
from microfleet.micromodel.spec import MicromodelSpec

SPEC = MicromodelSpec(
    name="tax_rates",
    description="VAT rates.",
    system_prompt="Answer with the rate.",
    parameters={"type": "object", "properties": {"country": {"type": "string"}}},
    query="What is the standard VAT rate in {country}?",
)


def _entry(n: int, rating: int, response: AnswerRecord, correction: str | None = None):
    return FeedbackEntry(n, rating, correction, None, float(n), response)


def _fleet(question: str, *countries: str) -> AnswerRecord:
    calls = [
        {"name": "tax_rates", "arguments": {"country": c}, "output": f"{c}: 20%"} for c in countries
    ]
    return AnswerRecord(f"f-{question}", "fleet", question, "composed", [], {"calls": calls})


def test_corrections_and_approvals_become_pairs() -> None:
    sources = [{"index": 1, "title": "VAT"}]
    direct = AnswerRecord("d", "tax_rates", "VAT in Malta?", "Malta has 18%.", sources)
    entries = [
        _entry(6, 1, direct),  # thumbs-up: the answer as recorded (its sources are data)
        _entry(5, -1, direct, "Malta: 18%."),  # a correction of the micromodel's own answer
        _entry(4, -1, direct),  # thumbs-down alone: nothing to learn
        _entry(3, 1, _fleet("France and Spain?", "France", "Spain")),  # each call's output
        _entry(2, -1, _fleet("Rate in Italy?", "Italy"), "Italy: 22%."),  # one call: taken
        _entry(1, -1, _fleet("France or Spain?", "France", "Spain"), "no one call's"),
        _entry(0, 1, AnswerRecord("o", "market_news", "q", "a")),  # another micromodel's
    ]
    pairs = [(p.question, p.answer, p.corrected) for p in feedback_pairs(entries, SPEC)]
    assert pairs == [
        ("VAT in Malta?", "Malta has 18%.", False),
        ("VAT in Malta?", "Malta: 18%.", True),
        ("What is the standard VAT rate in France?", "France: 20%", False),
        ("What is the standard VAT rate in Spain?", "Spain: 20%", False),
        ("Rate in Italy?", "Italy: 22%.", True),
    ]


def test_a_typed_micromodel_learns_only_json_under_its_schema() -> None:
    typed = SPEC.model_copy(
        update={
            "returns": {
                "type": "object",
                "properties": {"country": {"type": "string"}, "rate": {"type": "number"}},
                "required": ["country", "rate"],
            }
        }
    )
    fleet = _fleet("VAT in Malta?", "Malta")
    fleet.trace["calls"][0]["data"] = {"country": "Malta", "rate": 18}  # type: ignore[index]
    direct = AnswerRecord("d", "tax_rates", "VAT in Italy?", '{"country": "Italy", "rate": 22}')
    entries = [
        _entry(3, 1, fleet),  # the call's typed result, not its sentence
        _entry(2, -1, direct, "Italy: 22%."),  # prose cannot teach a JSON answer
        _entry(1, -1, direct, '{"country": "Italy", "rate": 22}'),  # a JSON correction can
        _entry(0, 1, direct),
    ]
    pairs = [(p.question, p.answer) for p in feedback_pairs(entries, typed)]
    assert pairs == [
        ("What is the standard VAT rate in Malta?", '{"country": "Malta", "rate": 18}'),
        ("VAT in Italy?", '{"country": "Italy", "rate": 22}'),
        ("VAT in Italy?", '{"country": "Italy", "rate": 22}'),
    ]

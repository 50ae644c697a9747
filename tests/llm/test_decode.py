"""The decode loop's shared pieces (llm/decode.py)."""

from __future__ import annotations

from typing import Any

from microfleet.llm.decode import took
from microfleet.llm.guided import SchemaGuides


def test_a_complete_json_answer_ends_without_a_pass_to_pick_its_end(base: tuple[Any, Any]) -> None:
    """Once a guided row's JSON is complete its guide allows only the end token: the row takes
    it at once. A row whose guide still has choices (more digits) does not."""
    _, tokenizer = base
    guides = SchemaGuides(tokenizer)
    seen: list[tuple[int, int]] = []

    def on_token(row: int, token: int) -> bool:
        seen.append((row, token))
        return token == tokenizer.eos_token_id

    schema = {"type": "object", "properties": {"rate": {"type": "number"}}, "required": ["rate"]}
    guide = guides.guide(schema)
    *head, last = tokenizer('{"rate": 18}', add_special_tokens=False)["input_ids"]
    for token in head:
        guide.advance(token, return_tokens=False)
        assert not took(on_token, 0, token, guide)
    guide.advance(last, return_tokens=False)
    assert took(on_token, 0, last, guide)
    assert seen[-2:] == [(0, last), (0, tokenizer.eos_token_id)]

    number = guides.guide({"type": "integer"})
    [digit] = tokenizer("1", add_special_tokens=False)["input_ids"]
    number.advance(digit, return_tokens=False)
    assert number.is_finished() and not took(on_token, 1, digit, number)
    assert not took(on_token, 2, digit, None)

from __future__ import annotations

import json
from typing import Any

from microfleet.llm.decode import complete_chats
from microfleet.llm.guided import SchemaGuides, fixed_opening


def test_a_guided_answer_keeps_the_schemas_property_order(base: tuple[Any, Any]) -> None:
    """A micromodel is trained on JSON in its schema's order; decoding must not reorder the
    keys (alphabetically, say), or the trained answer is out of reach."""
    model, tokenizer = base
    schema = {
        "type": "object",
        "properties": {"zeta": {"enum": ["red", "blue"]}, "alpha": {"type": "boolean"}},
        "required": ["zeta", "alpha"],
    }
    chat = [{"role": "user", "content": "Give a word and a number."}]
    [answer] = complete_chats(model, tokenizer, [chat], 40, [SchemaGuides(tokenizer).guide(schema)])
    assert list(json.loads(answer)) == ["zeta", "alpha"]


def test_the_fixed_opening_stops_where_the_model_has_a_choice() -> None:
    rate = {"type": "number"}
    schema = {
        "type": "object",
        "properties": {"country": {"type": "string", "const": "Malta"}, "rate": rate},
        "required": ["country", "rate"],
    }
    assert fixed_opening(schema) == '{"country": "Malta", "rate": '
    fixed = {
        **schema,
        "properties": {"a": {"const": 1}, "b": {"const": "x"}},
        "required": ["a", "b"],
    }
    assert fixed_opening(fixed) == '{"a": 1, "b": "x"}'
    assert fixed_opening({**fixed, "required": ["a"]}) == '{"a": 1'  # b may be left out
    assert fixed_opening({**schema, "required": []}) == ""
    unfixed = {**schema, "properties": {"rate": rate, "country": {"const": "Malta"}}}
    assert fixed_opening(unfixed) == ""  # no value before the first choice is fixed
    assert fixed_opening({"type": "array", "items": rate}) == ""


def test_an_opening_is_tokens_its_guide_takes(base: tuple[Any, Any]) -> None:
    """All but the last token of the fixed opening (the model writes that one)."""
    _, tokenizer = base
    guides = SchemaGuides(tokenizer)
    schema = {
        "type": "object",
        "properties": {"country": {"const": "Czech Republic"}, "rate": {"type": "number"}},
        "required": ["country", "rate"],
    }
    tokens = guides.opening(schema)
    assert tokens and guides.guide(schema).accepts_tokens(tokens)
    text = tokenizer.decode(tokens)
    assert '{"country": "Czech Republic", "rate":'.startswith(text) and len(text) > 30
    # a const is written as outlines-core writes it (escapes included), or the guide would
    # refuse the opening and the row would decode it after all
    quoted = {**schema, "properties": {**schema["properties"], "country": {"const": 'a "b"'}}}
    assert tokenizer.decode(guides.opening(quoted)).startswith('{"country": "a \\"b\\"", "rate')
    # a character outside ASCII, as outlines-core writes it (not "\\u00d6..."); before the
    # byte-level vocabulary, such a schema did not even compile
    austria = {**schema, "properties": {**schema["properties"], "country": {"const": "Österreich"}}}
    assert tokenizer.decode(guides.opening(austria)).startswith('{"country": "Österreich"')


def test_a_schema_that_spells_characters_outside_ascii_guides(base: tuple[Any, Any]) -> None:
    _, tokenizer = base
    guide = SchemaGuides(tokenizer).guide({"type": "string", "enum": ["café", "thé"]})
    assert guide.accepts_tokens(tokenizer('"café"', add_special_tokens=False)["input_ids"])
    refused = SchemaGuides(tokenizer).guide({"type": "string", "enum": ["café", "thé"]})
    assert not refused.accepts_tokens(tokenizer('"cafe"', add_special_tokens=False)["input_ids"])

from __future__ import annotations

import json
from typing import Any

from microfleet.llm.decode import complete_chats
from microfleet.llm.guided import SchemaGuides


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

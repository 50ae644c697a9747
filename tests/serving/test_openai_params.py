"""OpenAI request parameters honoured by the server: `stop` and `response_format`, checked on
the real model through the `openai` SDK."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pytest

from tests.serving.test_chat import MODEL, _no_cache, client, user

VAT = {
    "type": "object",
    "properties": {"country": {"type": "string"}, "rate_percent": {"type": "number"}},
    "required": ["country", "rate_percent"],
    "additionalProperties": False,
}


def test_stop_ends_the_answer_before_the_stop_string_streamed_or_not(server: str) -> None:
    c = client(server)
    ask = {
        "model": MODEL,
        "messages": user("Name three colours of the rainbow, one per line."),
        "max_tokens": 40,
        "extra_body": {"rag": False},
        "extra_headers": _no_cache(),
    }
    whole = c.chat.completions.create(**ask)  # type: ignore[call-overload]
    text = whole.choices[0].message.content or ""
    words = text.split()
    assert len(words) >= 4, text
    stop = words[3]  # a string the greedy answer is known to reach
    expected = text[: text.find(stop)].strip()
    cut = c.chat.completions.create(**ask, stop=[stop, "never appears"])  # type: ignore[call-overload]
    assert cut.choices[0].message.content == expected
    assert cut.choices[0].finish_reason == "stop"
    assert cut.usage.completion_tokens < whole.usage.completion_tokens
    pieces = c.chat.completions.create(**ask, stop=stop, stream=True)  # type: ignore[call-overload]
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in pieces if chunk.choices)
    assert streamed.strip() == expected
    with pytest.raises(openai.UnprocessableEntityError, match=r"stop: .*at most 4"):
        c.chat.completions.create(model=MODEL, messages=user("Hi"), stop=list("abcde"))


def test_response_format_json_schema_answers_json_that_validates(server: str) -> None:
    c = client(server)
    reply = c.chat.completions.create(
        model=MODEL,
        messages=user("What is the standard VAT rate in Germany?"),  # grounded: rag is on
        max_tokens=60,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "vat", "schema": VAT, "strict": True},
        },
        extra_headers=_no_cache(),
    )
    content = reply.choices[0].message.content or ""
    jsonschema.validate(json.loads(content), VAT)  # the JSON alone: no source footer
    assert reply.model_extra and reply.model_extra.get("sources")  # sources travel beside it
    streamed = c.chat.completions.create(
        model=MODEL,
        messages=user("What is the standard VAT rate in Germany?"),
        max_tokens=60,
        response_format={"type": "json_schema", "json_schema": {"name": "vat", "schema": VAT}},
        stream=True,
        extra_headers=_no_cache(),
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in streamed if chunk.choices)
    assert json.loads(text) == json.loads(content)


def test_structured_output_is_json_where_nothing_is_found_and_from_the_fleet(server: str) -> None:
    """With a schema the answer is the model's JSON: not the sentence saying the knowledge
    base has nothing on it (retrieval is on and finds nothing), not the fleet's sentence."""
    c = client(server)
    drinks = {
        "type": "object",
        "properties": {"drink": {"type": "string", "enum": ["café", "thé"]}},
        "required": ["drink"],
    }
    reply = c.chat.completions.create(
        model=MODEL,
        messages=user("Coffee or tea? Pick one drink."),
        max_tokens=20,
        response_format={"type": "json_schema", "json_schema": {"name": "d", "schema": drinks}},
        extra_headers=_no_cache(),
    )
    jsonschema.validate(json.loads(reply.choices[0].message.content or ""), drinks)
    fleet = c.chat.completions.create(
        model="fleet",
        messages=user("What is the standard VAT rate in Germany?"),
        max_tokens=60,
        response_format={"type": "json_schema", "json_schema": {"name": "vat", "schema": VAT}},
        extra_headers=_no_cache(),
    )
    jsonschema.validate(json.loads(fleet.choices[0].message.content or ""), VAT)


def test_response_format_json_object_and_a_schema_that_cannot_guide(server: str) -> None:
    c = client(server)
    reply = c.chat.completions.create(
        model=MODEL,
        messages=user("Give the capital of France as JSON."),
        max_tokens=40,
        response_format={"type": "json_object"},
        extra_body={"rag": False},
        extra_headers=_no_cache(),
    )
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)
    bad: Any = {"type": "object", "properties": {"a": {"type": "frobnicate"}}}
    with pytest.raises(openai.BadRequestError, match=r"response_format: .*frobnicate"):
        c.chat.completions.create(
            model=MODEL,
            messages=user("Hi"),
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": bad}},
        )


def test_seed_repeats_a_sampled_answer_and_top_p_narrows_it(server: str) -> None:
    c = client(server)

    def ask(**sampling: Any) -> str:
        reply = c.chat.completions.create(
            model=MODEL,
            messages=user("Write a short poem about the sea."),
            max_tokens=24,
            extra_body={"rag": False},
            **sampling,
        )
        return reply.choices[0].message.content or ""

    first, again = ask(temperature=1.2, seed=7), ask(temperature=1.2, seed=7)
    assert first == again  # the same seed: the same sampled answer
    others = {ask(temperature=1.2, seed=seed) for seed in (8, 9, 10)}
    assert len(others | {first}) > 1  # other seeds sample other answers
    greedy = ask(temperature=0)
    assert ask(temperature=1.2, top_p=0.0, seed=3) == greedy  # a nucleus of one token


def test_n_answers_several_choices_each_seeded_streamed_or_not(server: str) -> None:
    c = client(server)
    ask: dict[str, Any] = {
        "model": MODEL,
        "messages": user("Write a short poem about the sea."),
        "max_tokens": 16,
        "temperature": 1.2,
        "seed": 11,
        "extra_body": {"rag": False},
    }
    three = c.chat.completions.create(n=3, **ask)
    texts = [choice.message.content for choice in three.choices]
    assert [choice.index for choice in three.choices] == [0, 1, 2]
    assert len(set(texts)) > 1 and all(texts)  # choices sample apart
    assert texts[0] == c.chat.completions.create(n=1, **ask).choices[0].message.content
    assert c.chat.completions.create(n=3, **ask).choices[2].message.content == texts[2]
    assert three.usage and three.usage.completion_tokens > 16  # the choices' tokens add up

    streamed: dict[int, str] = {}
    finished: dict[int, str] = {}
    for chunk in c.chat.completions.create(n=3, stream=True, **ask):
        for choice in chunk.choices:
            streamed[choice.index] = streamed.get(choice.index, "") + (choice.delta.content or "")
            if choice.finish_reason:
                finished[choice.index] = choice.finish_reason
    assert [streamed[i].strip() for i in range(3)] == texts
    assert set(finished) == {0, 1, 2}

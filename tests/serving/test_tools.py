"""A client's own OpenAI `tools`: the local model answers with schema-valid `tool_calls`."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from jsonschema import validate

from microfleet.inference.runtime import BASE_MODEL_NAME
from tests.conftest import KEY_A

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string", "enum": ["Paris", "London", "Rome"]}},
    "required": ["city"],
}
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city.",
            "parameters": WEATHER,
        },
    }
]
MESSAGES: list[Any] = [{"role": "user", "content": "What is the weather in Paris right now?"}]


def _client(server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key=KEY_A, max_retries=0, timeout=300)


def test_tools_give_standard_tool_calls(server: str) -> None:
    reply = _client(server).chat.completions.create(
        model=BASE_MODEL_NAME, messages=MESSAGES, tools=TOOLS
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    for call in choice.message.tool_calls:
        assert call.type == "function" and call.function.name == "get_weather"
        validate(json.loads(call.function.arguments), WEATHER)


def test_streamed_tool_calls_carry_an_index(server: str) -> None:
    stream = _client(server).chat.completions.create(
        model=BASE_MODEL_NAME, messages=MESSAGES, tools=TOOLS, stream=True
    )
    deltas, finish = [], None
    for chunk in stream:
        for choice in chunk.choices:
            deltas += choice.delta.tool_calls or []
            finish = choice.finish_reason or finish
    assert finish == "tool_calls" and deltas
    assert [d.index for d in deltas] == list(range(len(deltas)))
    validate(json.loads(deltas[0].function.arguments or "{}"), WEATHER)  # type: ignore[union-attr]


CLOCK = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The local time in a city.",
        "parameters": WEATHER,
    },
}


def test_tool_choice_required_and_named_force_calls(server: str) -> None:
    client = _client(server)
    hello: Any = [{"role": "user", "content": "Say hello."}]
    required = client.chat.completions.create(
        model=BASE_MODEL_NAME, messages=hello, tools=TOOLS, tool_choice="required"
    )
    assert required.choices[0].finish_reason == "tool_calls"
    assert required.choices[0].message.tool_calls
    named = client.chat.completions.create(
        model=BASE_MODEL_NAME,
        messages=MESSAGES,  # about the weather, yet the client asks for the clock
        tools=[*TOOLS, CLOCK],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    calls = named.choices[0].message.tool_calls or []
    assert calls and {call.function.name for call in calls} == {"get_time"}  # type: ignore[union-attr]
    with pytest.raises(openai.BadRequestError, match="'get_date', which is not among"):
        client.chat.completions.create(
            model=BASE_MODEL_NAME,
            messages=MESSAGES,
            tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "get_date"}},
        )


def _called(reply: Any) -> list[tuple[str, dict[str, Any]]]:
    calls = reply.choices[0].message.tool_calls or []
    return [(c.function.name, json.loads(c.function.arguments)) for c in calls]


def test_calls_are_made_once_with_what_the_question_names(server: str) -> None:
    for city in ("London", "Rome"):
        asked: Any = [{"role": "user", "content": f"Is it raining in {city}?"}]
        reply = _client(server).chat.completions.create(
            model=BASE_MODEL_NAME, messages=asked, tools=TOOLS, extra_headers=NO_CACHE
        )
        assert _called(reply) == [("get_weather", {"city": city})]


NO_CACHE = {"Cache-Control": "no-cache"}


def test_the_agent_loop_ends_with_an_answer_from_the_tool_result(server: str) -> None:
    """call -> result -> an answer in text that uses it; more calls only when asked for."""
    client = _client(server)
    messages: list[Any] = list(MESSAGES)
    first = client.chat.completions.create(
        model=BASE_MODEL_NAME, messages=messages, tools=TOOLS, extra_headers=NO_CACHE
    )
    assert _called(first) == [("get_weather", {"city": "Paris"})]
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    for call in first.choices[0].message.tool_calls or []:
        result = json.dumps({"temperature_c": 18, "sky": "sunny"})
        messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    answer = client.chat.completions.create(
        model=BASE_MODEL_NAME, messages=messages, tools=TOOLS, extra_headers=NO_CACHE
    )
    choice = answer.choices[0]
    assert choice.finish_reason == "stop" and not choice.message.tool_calls
    said = (choice.message.content or "").lower()
    assert "paris" in said and ("sunny" in said or "18" in said), said
    more = client.chat.completions.create(
        model=BASE_MODEL_NAME, messages=messages, tools=TOOLS, tool_choice="required"
    )
    assert more.choices[0].finish_reason == "tool_calls"


VAT_TOOL = {
    "type": "function",
    "function": {
        "name": "get_vat_rate",
        "description": "The standard VAT rate of a country.",
        "parameters": {
            "type": "object",
            "properties": {"country": {"type": "string"}},
            "required": ["country"],
        },
    },
}


def test_calls_to_tools_the_question_is_not_about_are_dropped(server: str) -> None:
    asked: Any = [{"role": "user", "content": "How warm is it in Rome today?"}]
    reply = _client(server).chat.completions.create(
        model=BASE_MODEL_NAME, messages=asked, tools=[VAT_TOOL, *TOOLS], extra_headers=NO_CACHE
    )
    assert _called(reply) == [("get_weather", {"city": "Rome"})]

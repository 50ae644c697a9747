"""The two big client libraries against a real server: LangChain's ChatOpenAI and
LlamaIndex's OpenAILike, each checked on what the answer says (the `openai` SDK has its own
tests: test_chat.py, test_openai_params.py, test_tools.py)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field

from microfleet.inference.runtime import BASE_MODEL_NAME
from tests.conftest import KEY_A

pytest.importorskip("langchain_openai", reason="LangChain is in the dev extra: make install")
pytest.importorskip("llama_index.llms.openai_like", reason="LlamaIndex is in the dev extra")

NO_CACHE = {"Cache-Control": "no-cache"}
CAPITAL = "What is the capital of France? Answer in one word."


class VatRate(BaseModel):
    """A country's standard VAT rate."""

    country: str = Field(description="The EU member state")
    rate_percent: float = Field(description="Its standard VAT rate, in percent")


class TaxRate(BaseModel):
    """The tax_rates micromodel's own result (it writes these keys when asked for JSON)."""

    country: str
    rate: float


def _langchain(server: str, model: str = BASE_MODEL_NAME) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=f"{server}/v1",
        api_key=KEY_A,  # type: ignore[arg-type]
        model=model,
        temperature=0,
        max_tokens=48,  # type: ignore[call-arg]
        max_retries=0,
        default_headers=NO_CACHE,
        extra_body={"rag": False},
    )


def _llamaindex(server: str, model: str = BASE_MODEL_NAME, **options: Any) -> Any:
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(
        model=model,
        api_base=f"{server}/v1",
        api_key=KEY_A,
        is_chat_model=True,
        temperature=0,
        max_tokens=48,
        default_headers=NO_CACHE,
        additional_kwargs={"extra_body": {"rag": False}},
        **options,
    )


def test_langchain_invoke_and_stream_say_the_same(server: str) -> None:
    llm = _langchain(server)
    said = llm.invoke(CAPITAL).content
    assert "Paris" in said
    assert "".join(chunk.content for chunk in llm.stream(CAPITAL)) == said


def test_langchain_tool_loop_calls_then_answers_from_the_result(server: str) -> None:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool

    @tool
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        return f"18 C and sunny in {city}"

    llm = _langchain(server).bind_tools([get_weather])
    messages: list[Any] = [HumanMessage("What is the weather in Paris right now?")]
    called = llm.invoke(messages)
    assert [(c["name"], c["args"]) for c in called.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    messages.append(called)
    for call in called.tool_calls:
        messages.append(ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"]))
    answer = llm.invoke(messages)
    assert not answer.tool_calls  # the loop ends
    assert "sunny" in answer.content.lower() or "18" in answer.content, answer.content


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_langchain_structured_output_is_right_data(server: str, method: str) -> None:
    llm = _langchain(server, "tax_rates").with_structured_output(VatRate, method=method)
    result = llm.invoke("What is the standard VAT rate in Germany?")
    assert isinstance(result, VatRate)
    assert (result.country, result.rate_percent) == ("Germany", 19)


def test_langchain_json_mode_parses(server: str) -> None:
    llm = _langchain(server, "tax_rates").with_structured_output(TaxRate, method="json_mode")
    result = llm.invoke("What is the standard VAT rate in Hungary? Answer as JSON.")
    assert isinstance(result, TaxRate) and result.rate == 27


def test_llamaindex_chat_stream_chat_and_complete(server: str) -> None:
    from llama_index.core.llms import ChatMessage

    llm = _llamaindex(server)
    asked = [ChatMessage(role="user", content=CAPITAL)]
    said = llm.chat(asked).message.content
    assert "Paris" in said
    assert "".join(r.delta or "" for r in llm.stream_chat(asked)) == said
    # complete() is a chat of one user message: the same greedy answer. (It asked for "one
    # primary colour" before: SmolLM2 named one on the AVX2-only hosts, "white" on AVX-512.)
    assert llm.complete(CAPITAL).text == said


@pytest.mark.parametrize("calls", [True, False])
def test_llamaindex_structured_predict_is_right_data(server: str, calls: bool) -> None:
    """By function calling, and by the output parser's prompt (JSON under its schema)."""
    from llama_index.core.prompts import PromptTemplate

    llm = _llamaindex(server, "tax_rates", is_function_calling_model=calls)
    asked = PromptTemplate("What is the standard VAT rate in {country}?")
    result = llm.structured_predict(TaxRate, asked, country="France")
    assert (result.country, result.rate) == ("France", 20)

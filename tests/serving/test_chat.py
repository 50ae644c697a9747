"""Chat over real HTTP with the official openai client: JSON, SSE, sources, bad input."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from microfleet.inference.rag import NO_SOURCES_ANSWER
from microfleet.inference.runtime import BASE_MODEL_NAME, Runtime
from microfleet.serving.schemas import NEUTRAL
from tests.conftest import KEY_A

MODEL = BASE_MODEL_NAME
VAT_QUESTION = "What is the standard VAT rate in Hungary?"


def client(url: str, key: str = KEY_A) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def test_answer_is_grounded_and_cites_real_sources(server: str, runtime: Runtime) -> None:
    reply = client(server).chat.completions.create(
        model=MODEL, messages=user(VAT_QUESTION), max_tokens=24, extra_headers=_no_cache()
    )
    text = reply.choices[0].message.content or ""
    sources = (reply.model_extra or {})["sources"]
    assert sources and [s["index"] for s in sources] == list(range(1, len(sources) + 1))
    stored = {p["doc_id"] for p in runtime.features.store.payloads()}
    assert all(s["doc_id"] in stored for s in sources)
    assert any("hungary" in s["doc_id"].lower() or "vat" in s["doc_id"] for s in sources)
    cited = {int(n) for n in _citations(text)}
    assert cited <= {s["index"] for s in sources}  # every [n] the model wrote maps to a source
    assert "Sources:" not in text  # the list travels in `sources` (the footer is opt-in)
    assert reply.usage is not None and 0 < reply.usage.completion_tokens <= 24


def test_unrelated_question_says_there_is_no_source(server: str) -> None:
    reply = client(server).chat.completions.create(
        model=MODEL, messages=user("How do I bake sourdough bread?"), max_tokens=16
    )
    assert reply.choices[0].message.content == NO_SOURCES_ANSWER
    assert (reply.model_extra or {})["sources"] == []


def test_streaming_with_the_openai_client(server: str) -> None:
    stream = client(server).chat.completions.create(
        model=MODEL,
        messages=user("What did the ECB decide about its deposit rate?"),
        max_tokens=16,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=_no_cache(),
    )
    pieces, finals, usage = [], [], None
    for chunk in stream:
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            if choice.finish_reason:
                finals.append(chunk.model_extra or {})
        usage = chunk.usage or usage
    assert len([p for p in pieces if p]) > 3  # token by token, not one blob
    assert len(finals) == 1 and finals[0]["sources"][0]["doc_id"] == "ecb-holds-rates-october"
    assert usage is not None and usage.completion_tokens == 16


def test_sse_wire_format_ends_with_done(server: str, auth: dict[str, str]) -> None:
    body = {"model": MODEL, "messages": user("Hello"), "max_tokens": 4, "stream": True}
    with httpx.stream(
        "POST", f"{server}/v1/chat/completions", json={**body, "rag": False}, headers=auth
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    frames = [json.loads(d) for d in data[:-1]]
    assert {f["object"] for f in frames} == {"chat.completion.chunk"}
    assert frames[0]["choices"][0]["delta"]["role"] == "assistant"


def test_plain_chat_without_retrieval(server: str) -> None:
    reply = client(server).chat.completions.create(
        model=MODEL,
        messages=user("What is the capital of France?"),
        max_tokens=12,
        extra_body={"rag": False},
    )
    assert "Paris" in (reply.choices[0].message.content or "")


def test_models_list_base_every_micromodel_and_fleet(server: str) -> None:
    models = client(server).models.list().data
    ids = [MODEL, "tax_rates", "market_news", "personal_finance", "fleet"]
    assert [m.id for m in models] == ids
    extra = {m.id: m.model_extra or {} for m in models}
    assert extra[MODEL]["parent"] is None and "champion" not in extra[MODEL]
    assert extra["tax_rates"]["parent"] == MODEL
    assert extra["tax_rates"]["version"].startswith("v1-")  # the adapter the fleet ships
    assert extra["tax_rates"]["champion"] is True
    for name in ("market_news", "personal_finance"):  # no adapter: the base model answers
        assert extra[name]["champion"] is False
        assert extra[name]["version"] == f"{MODEL} (no adapter)"
    answer = client(server).chat.completions.create(
        model="personal_finance",
        messages=user("How big should an emergency fund be?"),
        max_tokens=24,
        extra_body={"rag": False},
    )
    assert answer.model == "personal_finance" and answer.choices[0].message.content


def test_bad_requests_get_one_line_errors(server: str, auth: dict[str, str]) -> None:
    c = client(server)
    with pytest.raises(openai.NotFoundError, match=f"unknown model 'nope'; known: {MODEL}"):
        c.chat.completions.create(model="nope", messages=user("hi"))
    post = _poster(server, auth)
    assert _status(post(content=b"{not json")) == (422, "body")
    assert _status(post(json={"model": MODEL})) == (422, "messages")
    assert _status(post(json={"model": MODEL, "messages": "hi"})) == (422, "messages")
    assert post(json={"model": MODEL, "messages": []}).status_code == 400
    assert post(json={"model": MODEL, "messages": user("  ")}).status_code == 400
    too_long = post(json={"model": MODEL, "messages": user("tax " * 3000), "rag": False})
    assert too_long.status_code == 400 and "limit is" in too_long.json()["error"]["message"]


def test_search_route_keeps_the_cli_contract(server: str, auth: dict[str, str]) -> None:
    response = httpx.post(
        f"{server}/v1/search", json={"query": "ECB deposit rate", "k": 2}, headers=auth
    )
    hits = response.json()["data"]
    assert len(hits) == 2 and hits[0]["doc_id"] == "ecb-holds-rates-october"
    assert set(hits[0]) == {"doc_id", "chunk_id", "score", "title", "url", "text"}
    bad = httpx.post(f"{server}/v1/search", json={"query": "x", "since": "yesterday"}, headers=auth)
    assert bad.status_code == 400 and "yesterday" in bad.json()["error"]["message"]
    # the fleet's glossary: the article says "Federal Reserve", never "Fed"
    # (without it, the payrolls and Bank of England articles, which say "cut", came first)
    body = {"query": "By how much did the Fed cut rates?", "k": 1}
    fed = httpx.post(f"{server}/v1/search", json=body, headers=auth)
    assert [hit["doc_id"] for hit in fed.json()["data"]] == ["fed-cuts-quarter-point"]


def _poster(server: str, auth: dict[str, str]) -> Any:
    def post(**kwargs: Any) -> httpx.Response:
        headers = {**auth, **kwargs.pop("headers", {})}
        return httpx.post(f"{server}/v1/chat/completions", headers=headers, **kwargs)

    return post


def _status(response: httpx.Response) -> tuple[int, str]:
    message = response.json()["error"]["message"]
    assert "\n" not in message
    return response.status_code, message.split(":")[0]


def _citations(text: str) -> list[str]:
    import re

    return re.findall(r"\[(\d+)\]", text)


def _no_cache() -> dict[str, str]:
    return {"Cache-Control": "no-cache"}


def test_malformed_input_is_a_4xx_in_the_openai_shape(server: str, auth: dict[str, str]) -> None:
    post = _poster(server, auth)
    surrogate = b'{"model": "%s", "messages": [{"role": "user", "content": "hi \\ud800"}]}'
    lone = post(
        content=surrogate % MODEL.encode(), headers={**auth, "Content-Type": "application/json"}
    )
    assert _status(lone) == (422, "body")
    assert "messages[0].content: not valid Unicode" in lone.json()["error"]["message"]
    tools = post(json={"model": MODEL, "messages": user("hi"), "tools": [{"foo": "bar"}]})
    assert _status(tools) == (422, "tools.0.function")
    invalid_utf8 = post(
        content=b'{"model": "\xff\xfe"}', headers={**auth, "Content-Type": "application/json"}
    )
    assert invalid_utf8.status_code in (400, 422) and "error" in invalid_utf8.json()
    deep = b"[" * 100_000 + b"]" * 100_000
    nested = post(content=deep, headers={**auth, "Content-Type": "application/json"})
    assert nested.status_code in (400, 413, 422) and "error" in nested.json()
    unknown = httpx.get(f"{server}/v1/nothing-here", headers=auth)
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found"


def test_the_prompt_with_its_template_fits_the_window(server: str, runtime: Runtime) -> None:
    turns: list[Any] = []
    for i in range(400):  # far more history than the window holds
        turns += [
            {"role": "user", "content": f"Note {i}: ok."},
            {"role": "assistant", "content": "Noted."},
        ]
    reply = client(server).chat.completions.create(
        model=MODEL, messages=[*turns, *user("Say hi.")], max_tokens=8, extra_body={"rag": False}
    )
    assert reply.usage is not None
    window = runtime.assistant.options.context_window
    assert reply.usage.prompt_tokens + 8 <= window, reply.usage


def test_errors_speak_the_http_callers_language(server: str, auth: dict[str, str]) -> None:
    body = {"query": "ECB deposit rate", "since": "yesterday"}
    bad = httpx.post(f"{server}/v1/search", json=body, headers=auth)
    assert bad.status_code == 400
    message = bad.json()["error"]["message"]
    assert message.startswith("since: 'yesterday' is not a date") and "--" not in message
    assert "microfleet " not in NO_SOURCES_ANSWER  # no CLI command for an API client


def test_unsupported_parameters_are_refused_by_name_never_ignored(server: str) -> None:
    """What the server does not implement is a 400 naming it; neutral values pass."""
    c = client(server)
    refused = {  # every one of NEUTRAL's, with a value that asks something of the server
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logprobs": True,
        "top_logprobs": 2,
        "logit_bias": {"1": 5},
        "functions": [{"name": "f", "parameters": {}}],
        "function_call": {"name": "f"},
        "modalities": ["text", "audio"],
        "audio": {"voice": "alloy", "format": "wav"},
        "prediction": {"type": "content", "content": "Hello"},
    }
    assert set(refused) == set(NEUTRAL)
    for name, value in refused.items():
        with pytest.raises(openai.BadRequestError, match=f"`{name}` is not supported"):
            c.chat.completions.create(
                model=MODEL, messages=user("Hi"), max_tokens=4, extra_body={name: value}
            )
    neutral = c.chat.completions.create(
        model=MODEL,
        messages=user("Say hello."),
        max_tokens=4,
        n=1,
        seed=7,  # greedy decoding is reproducible anyway
        top_p=1,
        presence_penalty=0,
        response_format={"type": "text"},
        stop=[],
        extra_body={"rag": False},
    )
    assert neutral.choices[0].message.content


def test_text_content_parts_are_read_and_images_refused(server: str) -> None:
    c = client(server)
    parts = [{"type": "text", "text": "Say hello"}, {"type": "text", "text": "in one word."}]
    plain = c.chat.completions.create(
        model=MODEL,
        messages=user("Say hello\n\nin one word."),
        max_tokens=8,
        extra_body={"rag": False},
        extra_headers=_no_cache(),
    )
    as_parts = c.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": parts}],
        max_tokens=8,
        extra_body={"rag": False},
        extra_headers=_no_cache(),
    )
    assert as_parts.choices[0].message.content == plain.choices[0].message.content
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    with pytest.raises(openai.BadRequestError, match="image_url content parts are not supported"):
        c.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": [parts[0], image]}], max_tokens=4
        )

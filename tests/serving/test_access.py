"""The access log: a line per request with its status, model and tokens, never a prompt or a
key; unknown routes and methods answer in OpenAI's error shape."""

from __future__ import annotations

import logging

import httpx
import pytest

from microfleet.inference.runtime import BASE_MODEL_NAME
from tests.conftest import KEY_A

HEADERS = {"X-API-Key": KEY_A, "Cache-Control": "no-cache"}
SECRET = "my-private-question-7731"


def test_one_line_per_request_without_the_prompt(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = {
        "model": BASE_MODEL_NAME,
        "messages": [{"role": "user", "content": f"Say hi. {SECRET}"}],
        "max_tokens": 6,
        "rag": False,
    }
    with caplog.at_level(logging.INFO, logger="microfleet.access"):
        reply = httpx.post(f"{server}/v1/chat/completions", json=body, headers=HEADERS, timeout=60)
        streamed = httpx.post(
            f"{server}/v1/chat/completions", json={**body, "stream": True}, headers=HEADERS
        )
        refused = httpx.get(f"{server}/v1/models?api_key={KEY_A}")
    lines = [r.getMessage() for r in caplog.records if r.name == "microfleet.access"]
    usage = reply.json()["usage"]
    assert f"model={BASE_MODEL_NAME} tokens={usage['prompt_tokens']}+" in lines[0]
    assert lines[0].startswith("POST /v1/chat/completions 200 ")
    assert streamed.status_code == 200 and lines[1].startswith("POST /v1/chat/completions 200")
    assert not lines[1].endswith("tokens=0+0")  # counted when the stream ended
    assert refused.status_code == 401 and lines[2].startswith("GET /v1/models 401 ")
    assert not any(SECRET in line or KEY_A in line for line in lines)


def test_unknown_routes_and_methods_answer_in_the_openai_shape(server: str) -> None:
    missing = httpx.get(f"{server}/v1/nothing-here", headers=HEADERS)
    assert missing.status_code == 404 and missing.json()["error"]["message"]
    wrong = httpx.delete(f"{server}/v1/models", headers=HEADERS)
    assert wrong.status_code == 405 and wrong.json()["error"]["message"]

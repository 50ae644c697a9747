"""The OpenAI-compatible backend against a second real server (our own), and a backend that is
down: 503 with a reason, not a hang; /readyz says not ready.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import openai
import pytest

from microfleet.config import Settings
from microfleet.inference.runtime import BASE_MODEL_NAME, Runtime, build_runtime
from microfleet.serving.app import create_app
from tests.conftest import KEY_A, running_server


def _front(tmp: object, models_dir: object, llm_url: str) -> Settings:
    return Settings(
        home=tmp,  # type: ignore[arg-type]
        models_dir=models_dir,  # type: ignore[arg-type]
        llm_url=llm_url,
        llm_api_key=KEY_A,  # type: ignore[arg-type]
        llm_model=BASE_MODEL_NAME,
        request_timeout_seconds=20,
        cache=False,
    )


@pytest.fixture(scope="module")
def backend(runtime: Runtime, served_settings: Settings) -> Iterator[str]:
    """Plain generation over HTTP, as vLLM or llama.cpp would serve it: no retrieval."""
    plain = served_settings.model_copy(update={"rag": False})
    with running_server(create_app(runtime, plain, owns_runtime=False)) as url:
        yield url


@pytest.fixture(scope="module")
def front(
    backend: str, tmp_path_factory: pytest.TempPathFactory, models_dir: object
) -> Iterator[str]:
    """A microfleet whose generator is a second server's OpenAI-compatible API."""
    settings = _front(tmp_path_factory.mktemp("front"), models_dir, f"{backend}/v1")
    app = create_app(build_runtime(settings, with_micromodels=False), settings)
    with running_server(app) as url:
        yield url


def test_openai_backend_streams_through_a_second_server(front: str) -> None:
    client = openai.OpenAI(base_url=f"{front}/v1", api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    reply = client.chat.completions.create(
        model=BASE_MODEL_NAME,
        messages=messages,
        max_tokens=12,
        extra_body={"rag": False},  # type: ignore[arg-type]
    )
    assert "Paris" in (reply.choices[0].message.content or "")
    assert reply.usage is not None and reply.usage.prompt_tokens > 0
    stream = client.chat.completions.create(
        model=BASE_MODEL_NAME,
        messages=messages,
        max_tokens=12,
        stream=True,  # type: ignore[arg-type]
        extra_body={"rag": False},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert "Paris" in text
    assert httpx.get(f"{front}/readyz").status_code == 200


def test_backend_down_is_503_with_a_reason(
    tmp_path_factory: pytest.TempPathFactory, models_dir: object
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    settings = _front(tmp_path_factory.mktemp("dead"), models_dir, dead)
    with running_server(
        create_app(build_runtime(settings, with_micromodels=False), settings)
    ) as url:
        body = {
            "model": BASE_MODEL_NAME,
            "messages": [{"role": "user", "content": "hi"}],
            "rag": False,
        }
        response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30)
        assert response.status_code == 503
        assert response.json()["error"]["message"].startswith("unavailable: ")
        ready = httpx.get(f"{url}/readyz", timeout=30)
        assert ready.status_code == 503 and ready.json()["status"] == "not ready"

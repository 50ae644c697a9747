"""Our OpenAI-compatible server, driven by the official openai client over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from microfleet.config import Settings
from microfleet.serving.service import BASE_MODEL_NAME, build_app
from tests.conftest import running_server


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory, models_dir: object) -> Iterator[str]:
    settings = Settings(home=tmp_path_factory.mktemp("serve"), models_dir=models_dir)  # type: ignore[arg-type]
    with running_server(build_app(settings, with_micromodels=False)) as url:
        yield url


def test_openai_client_chat_completion(server_url: str) -> None:
    client = openai.OpenAI(base_url=f"{server_url}/v1", api_key="unused")
    reply = client.chat.completions.create(
        model=BASE_MODEL_NAME,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=16,
    )
    assert "Paris" in (reply.choices[0].message.content or "")
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    assert [m.id for m in client.models.list()] == [BASE_MODEL_NAME]


def test_bad_requests_get_clear_errors(server_url: str) -> None:
    client = openai.OpenAI(base_url=f"{server_url}/v1", api_key="unused")
    with pytest.raises(openai.NotFoundError, match="unknown model 'nope'; known: smollm2"):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    response = httpx.post(f"{server_url}/v1/chat/completions", json={"model": BASE_MODEL_NAME})
    assert response.status_code == 422 and "messages" in response.json()["error"]["message"]
    response = httpx.post(
        f"{server_url}/v1/chat/completions",
        json={"model": BASE_MODEL_NAME, "messages": [{"role": "user", "content": " "}]},
    )
    assert response.status_code == 400
    assert httpx.get(f"{server_url}/healthz").json() == {"status": "ok"}

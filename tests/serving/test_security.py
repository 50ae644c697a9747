"""API keys on every route but health, the body limit (413) and the per-key rate limit (429)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from microfleet.config import Settings
from microfleet.inference.runtime import BASE_MODEL_NAME, Runtime
from microfleet.serving.app import create_app
from tests.conftest import KEY_A, KEY_B, running_server

CHAT = {"model": BASE_MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "rag": False}
ROUTES = [
    ("GET", "/v1/models", None),
    ("POST", "/v1/chat/completions", {**CHAT, "max_tokens": 1}),
    ("POST", "/v1/search", {"query": "ECB"}),
    ("POST", "/v1/ingest", {"documents": [{"id": "auth-probe", "text": "probe"}]}),
    ("GET", "/metrics", None),
    ("GET", "/v1/kb/stats", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_route_needs_a_valid_key(server: str, method: str, path: str, body: object) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"X-API-Key": "nope"}):
        refused = httpx.request(method, f"{server}{path}", json=body, headers=headers)
        assert refused.status_code == 401, (path, headers)
        assert refused.json()["error"]["message"] == "missing or invalid API key"
    for headers in ({"Authorization": f"Bearer {KEY_A}"}, {"X-API-Key": KEY_B}):
        allowed = httpx.request(method, f"{server}{path}", json=body, headers=headers, timeout=60)
        assert allowed.status_code == 200, (path, allowed.text)


def test_health_routes_and_the_playground_page_are_open(server: str) -> None:
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    page = httpx.get(f"{server}/")
    assert page.status_code == 200 and "microfleet playground" in page.text
    assert httpx.get(f"{server}/web/app.js").status_code == 200
    assert httpx.get(f"{server}/web/%2e%2e/playground.py").status_code == 404  # no way out
    ready = httpx.get(f"{server}/readyz")
    assert ready.status_code == 200 and ready.json()["chunks"] > 0


@pytest.fixture(scope="module")
def strict_server(runtime: Runtime, served_settings: Settings) -> Iterator[str]:
    strict = served_settings.model_copy(update={"rate_limit": "3/minute", "max_body_kb": 1})
    with running_server(create_app(runtime, strict, owns_runtime=False)) as url:
        yield url


def test_body_over_the_limit_is_413(strict_server: str) -> None:
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * 2000}]}
    response = httpx.post(
        f"{strict_server}/v1/chat/completions", json=big, headers={"X-API-Key": KEY_B}
    )
    assert response.status_code == 413 and "1 KB limit" in response.json()["error"]["message"]


def test_rate_limit_per_key_is_429_with_retry_after(strict_server: str) -> None:
    def models(key: str) -> httpx.Response:
        return httpx.get(f"{strict_server}/v1/models", headers={"X-API-Key": key})

    assert [models(KEY_A).status_code for _ in range(3)] == [200, 200, 200]
    limited = models(KEY_A)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert models("key-not-valid").status_code == 401
    # KEY_B has its own budget (the 413 test above spent one of its three)
    assert models(KEY_B).status_code == 200

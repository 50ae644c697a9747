"""The guard on the real server: API keys on every route but health, the body's size (413)
and arrival (408), rate limits per key, per WebSocket message and per address for wrong keys
(429), cross-site writes and WebSockets (403, 415), CORS when configured, the page's CSP."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from microfleet.config import Settings
from microfleet.inference.runtime import BASE_MODEL_NAME, Runtime
from tests.conftest import KEY_A, KEY_B, variant_server

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
    with variant_server(runtime, served_settings, rate_limit="3/minute", max_body_kb=1) as url:
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


def test_every_response_carries_a_strict_content_security_policy(server: str) -> None:
    for path in ("/", "/web/app.js", "/healthz"):
        policy = httpx.get(f"{server}{path}").headers["content-security-policy"]
        assert "script-src 'self'" in policy and "default-src 'none'" in policy, path
        assert "unsafe-inline" not in policy


def test_ingest_keeps_only_web_links(server: str) -> None:
    docs = [
        {"id": "xss-probe", "text": "x", "url": "javascript:alert(localStorage.key(0))"},
        {"id": "data-probe", "text": "x", "url": "data:text/html,<script>1</script>"},
        {"id": "web-probe", "text": "x", "url": "https://example.org/a"},
    ]
    headers = {"X-API-Key": KEY_A}
    assert (
        httpx.post(f"{server}/v1/ingest", json={"documents": docs}, headers=headers).json()[
            "documents"
        ]
        == 3
    )
    body = {"query": "x", "k": 10}
    hits = httpx.post(f"{server}/v1/search", json=body, headers=headers).json()["data"]
    urls = {h["doc_id"]: h["url"] for h in hits}
    assert urls["xss-probe"] is None and urls["data-probe"] is None
    assert urls["web-probe"] == "https://example.org/a"


INGEST = {"documents": [{"id": "csrf-probe", "text": "planted"}]}


def test_cross_site_writes_are_refused(server: str) -> None:
    key = {"X-API-Key": KEY_A}
    url = f"{server}/v1/ingest"
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        sent = httpx.post(url, content=json.dumps(INGEST), headers={**key, "Content-Type": kind})
        assert sent.status_code == 415, kind
        assert sent.json()["error"]["type"] == "unsupported_media_type"
    evil = {**key, "Origin": "http://evil.example"}
    refused = httpx.post(url, json=INGEST, headers=evil)
    assert refused.status_code == 403 and "evil.example" in refused.json()["error"]["message"]
    same = {**key, "Origin": server}  # the playground's own page
    assert httpx.post(url, json=INGEST, headers=same, timeout=60).status_code == 200
    assert "access-control-allow-origin" not in refused.headers  # no CORS by default


def test_api_key_in_the_url_only_opens_a_websocket(server: str) -> None:
    assert httpx.get(f"{server}/v1/models?api_key={KEY_A}").status_code == 401
    with connect(_ws_url(server)) as ws:
        ws.send(json.dumps({"model": "nope", "messages": [{"role": "user", "content": "hi"}]}))
        assert json.loads(ws.recv())["type"] == "error"


def test_the_websocket_checks_origin(server: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(_ws_url(server), origin=Origin("http://evil.example"))
    assert refused.value.response.status_code == 403
    with connect(_ws_url(server), origin=Origin(server)) as ws:
        ws.send("not json")
        assert json.loads(ws.recv())["type"] == "error"


def _ws_url(server: str, key: str = KEY_A) -> str:
    return server.replace("http://", "ws://") + f"/v1/ws?api_key={key}"


@pytest.fixture(scope="module")
def cors_server(runtime: Runtime, served_settings: Settings) -> Iterator[str]:
    with variant_server(runtime, served_settings, cors_origins=["https://app.example"]) as url:
        yield url


def test_cors_opens_only_to_the_origins_configured(cors_server: str) -> None:
    preflight = httpx.options(
        f"{cors_server}/v1/search",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    headers = {"X-API-Key": KEY_A, "Origin": "https://app.example"}
    found = httpx.post(f"{cors_server}/v1/search", json={"query": "VAT"}, headers=headers)
    assert found.status_code == 200
    assert found.headers["access-control-allow-origin"] == "https://app.example"
    headers["Origin"] = "https://other.example"
    assert (
        httpx.post(f"{cors_server}/v1/search", json={"query": "VAT"}, headers=headers).status_code
        == 403
    )


@pytest.fixture(scope="module")
def socket_server(runtime: Runtime, served_settings: Settings) -> Iterator[str]:
    with variant_server(runtime, served_settings, rate_limit="3/minute") as url:
        yield url


def test_every_websocket_message_counts_against_the_rate_limit(socket_server: str) -> None:
    request: dict[str, object] = {"model": BASE_MODEL_NAME, "max_tokens": 1, "rag": False}
    request["messages"] = [{"role": "user", "content": "hi"}]
    with connect(_ws_url(socket_server, KEY_B)) as ws:  # the handshake is one of three
        replies = []
        for _ in range(3):
            ws.send(json.dumps(request))
            while True:
                event = json.loads(ws.recv())
                if event["type"] in ("done", "error"):
                    replies.append(event)
                    break
    assert [r["type"] for r in replies] == ["done", "done", "error"]
    assert "rate limit" in replies[-1]["message"] and replies[-1]["retry_after"] >= 1


@pytest.fixture(scope="module")
def lockout_server(runtime: Runtime, served_settings: Settings) -> Iterator[str]:
    with variant_server(runtime, served_settings, auth_failure_limit="3/minute") as url:
        yield url


def test_wrong_keys_are_rate_limited_per_address(lockout_server: str) -> None:
    def models(key: str) -> httpx.Response:
        return httpx.get(f"{lockout_server}/v1/models", headers={"X-API-Key": key})

    assert [models(f"guess-{i}").status_code for i in range(3)] == [401, 401, 401]
    locked = models("guess-4")
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    assert models(KEY_A).status_code == 429  # not even a right guess gets through now


@pytest.fixture(scope="module")
def impatient_server(runtime: Runtime, served_settings: Settings) -> Iterator[str]:
    with variant_server(runtime, served_settings, body_timeout_seconds=1.0) as url:
        yield url


def test_a_body_that_does_not_arrive_in_time_is_408(impatient_server: str) -> None:
    host, port = impatient_server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (
            "POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"X-API-Key: {KEY_B}\r\nContent-Length: 100\r\n\r\n" + '{"query": '
        )
        sock.sendall(head.encode())
        started = time.monotonic()
        reply = sock.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 408"), reply
    assert time.monotonic() - started < 5

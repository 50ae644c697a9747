"""WS /v1/ws with a real WebSocket client: streamed deltas, sources, errors that keep the socket."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from microfleet.inference.runtime import BASE_MODEL_NAME
from tests.conftest import KEY_A


def _ws(server: str, key: str | None = KEY_A) -> str:
    url = server.replace("http://", "ws://") + "/v1/ws"
    return f"{url}?api_key={key}" if key else url


def test_websocket_streams_tokens_then_done_with_sources(server: str) -> None:
    request = {
        "model": BASE_MODEL_NAME,
        "messages": [{"role": "user", "content": "Which company raised its dividend?"}],
        "max_tokens": 12,
    }
    with connect(_ws(server)) as ws:
        ws.send("not json")
        assert json.loads(ws.recv())["type"] == "error"
        ws.send(json.dumps({"model": BASE_MODEL_NAME}))
        error = json.loads(ws.recv())
        assert error["type"] == "error" and error["message"].startswith("messages")
        ws.send(json.dumps({**request, "n": 2}))  # one answer per request here
        error = json.loads(ws.recv())
        assert error["type"] == "error" and "POST /v1/chat/completions" in error["message"]
        ws.send(json.dumps(request))  # the socket still works after errors
        events = []
        while not events or events[-1]["type"] not in ("done", "error"):
            events.append(json.loads(ws.recv()))
    deltas = [e for e in events if e["type"] == "delta"]
    done = events[-1]
    assert len(deltas) > 2 and done["type"] == "done"
    assert done["sources"] and done["sources"][0]["doc_id"] == "harbor-energy-dividend"
    assert done["usage"]["completion_tokens"] > 0


def test_websocket_needs_a_key(server: str) -> None:
    for key in (None, "wrong"):
        with pytest.raises(InvalidStatus) as refused:
            connect(_ws(server, key))
        assert refused.value.response.status_code == 401

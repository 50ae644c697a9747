"""A real local WebSocket server speaking Alpaca's v1beta1/news protocol."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from pydantic import SecretStr
from websockets.asyncio.server import ServerConnection, serve

from microfleet.config import Settings
from microfleet.features.ingest import run_ingest
from microfleet.features.pipeline import PipelineContext
from microfleet.features.sources import resolve_inputs

NEWS = [
    {
        "T": "n",
        "id": 101,
        "headline": "Northwind raises guidance",
        "summary": "Chip demand.",
        "content": "<p>Northwind Semiconductors raised its outlook on "
        "<b>data-centre</b> demand.</p>",
        "author": "desk",
        "created_at": "2025-10-22T20:05:00Z",
        "updated_at": "2025-10-22T20:05:00Z",
        "url": "https://news.example.com/101",
        "symbols": ["NWSC"],
        "source": "benzinga",
    },
    {
        "T": "n",
        "id": 102,
        "headline": "Halcyon Bank warns",
        "summary": "Loan losses rise.",
        "content": "",
        "author": "desk",
        "created_at": "2025-10-14T07:00:00Z",
        "updated_at": "2025-10-14T07:00:00Z",
        "url": "https://news.example.com/102",
        "symbols": ["HLCB"],
        "source": "benzinga",
    },
]


@dataclass
class FakeAlpaca:
    """Speaks the protocol; `drop_after_news` closes the socket abruptly after sending news."""

    drop_after_news: bool = False
    key: str = "key"
    secret: str = "secret"
    subscriptions: list[list[str]] = field(default_factory=list)
    url: str = ""

    async def handler(self, ws: ServerConnection) -> None:
        await ws.send(json.dumps([{"T": "success", "msg": "connected"}]))
        auth = json.loads(await ws.recv())
        if auth.get("key") != self.key or auth.get("secret") != self.secret:
            await ws.send(json.dumps([{"T": "error", "code": 402, "msg": "auth failed"}]))
            return
        await ws.send(json.dumps([{"T": "success", "msg": "authenticated"}]))
        sub = json.loads(await ws.recv())
        self.subscriptions.append(sub["news"])
        await ws.send(json.dumps([{"T": "subscription", "news": sub["news"]}]))
        await ws.send(json.dumps(NEWS))
        if self.drop_after_news:
            ws.transport.abort()  # a drop, not a clean close
            return
        await asyncio.sleep(0.5)


def _serve(fake: FakeAlpaca) -> Iterator[FakeAlpaca]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: asyncio.Future[None] | None = None

    async def main() -> None:
        nonlocal stop
        stop = loop.create_future()
        async with serve(fake.handler, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            fake.url = f"ws://127.0.0.1:{port}/v1beta1/news"
            ready.set()
            await stop

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(5)
    yield fake
    loop.call_soon_threadsafe(lambda: stop.set_result(None) if stop else None)
    thread.join(5)


@pytest.fixture
def alpaca_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "alpaca_key_id": SecretStr("key"),
            "alpaca_secret_key": SecretStr("secret"),
            "ws_idle_seconds": 1.0,
        }
    )


def test_news_messages_are_ingested(alpaca_settings: Settings, ctx: PipelineContext) -> None:
    for fake in _serve(FakeAlpaca()):
        stats = run_ingest(resolve_inputs([fake.url]), alpaca_settings, ctx).stats
        assert stats.documents == 2 and stats.failed == 0
        assert fake.subscriptions == [["*"]]
    payloads = {p["doc_id"]: p for p in ctx.store.payloads()}
    assert payloads["alpaca:101"]["symbols"] == ["NWSC"]
    assert "data-centre demand" in payloads["alpaca:101"]["text"]
    assert payloads["alpaca:102"]["text"] == "Loan losses rise."


def test_a_dropped_socket_is_a_counted_failure(
    alpaca_settings: Settings, ctx: PipelineContext
) -> None:
    for fake in _serve(FakeAlpaca(drop_after_news=True)):
        stats = run_ingest(resolve_inputs([fake.url]), alpaca_settings, ctx).stats
    assert stats.documents == 2 and stats.failed == 1
    assert "dropped" in alpaca_settings.dead_letter_path.read_text()


def test_bad_keys_are_refused_with_advice(alpaca_settings: Settings, ctx: PipelineContext) -> None:
    bad = alpaca_settings.model_copy(update={"alpaca_secret_key": SecretStr("wrong")})
    for fake in _serve(FakeAlpaca()):
        stats = run_ingest(resolve_inputs([fake.url]), bad, ctx).stats
    assert stats.failed == 1 and stats.documents == 0
    assert "MICROFLEET_ALPACA_KEY_ID" in bad.dead_letter_path.read_text()

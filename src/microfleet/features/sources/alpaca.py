"""The Alpaca news WebSocket (v1beta1/news): authenticate, subscribe, stream news messages.

Runs its own asyncio loop on a daemon thread and hands records over through a queue, so a
Bytewax partition can poll it. With `follow`, a dropped connection reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from dataclasses import dataclass
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from microfleet.documents.parse import RawRecord


class AlpacaAuthError(Exception):
    pass


@dataclass(frozen=True)
class AlpacaConfig:
    url: str
    key_id: str
    secret_key: str
    symbols: tuple[str, ...] = ("*",)
    follow: bool = False
    idle_seconds: float = 10.0
    max_backoff: float = 30.0


class AlpacaNewsStream:
    """Start it, then poll `drain()`; `done` turns true when the stream has ended."""

    def __init__(self, config: AlpacaConfig) -> None:
        self.config = config
        self.records: queue.Queue[RawRecord] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="alpaca-news", daemon=True)
        self._finished = threading.Event()

    def start(self) -> AlpacaNewsStream:
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        return self._finished.is_set() and self.records.empty()

    def drain(self, limit: int) -> list[RawRecord]:
        out: list[RawRecord] = []
        while len(out) < limit:
            try:
                out.append(self.records.get_nowait())
            except queue.Empty:
                break
        return out

    def _run(self) -> None:
        try:
            asyncio.run(self._stream())
        finally:
            self._finished.set()

    async def _stream(self) -> None:
        delay = 0.5
        while True:
            try:
                async with connect(self.config.url, open_timeout=10) as ws:
                    await self._handshake(ws)
                    delay = 0.5
                    await self._receive(ws)
                    return
            except AlpacaAuthError as exc:
                self._fail(
                    f"Alpaca refused the login ({exc}); check MICROFLEET_ALPACA_KEY_ID/SECRET_KEY"
                )
                return
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                if not self.config.follow:
                    self._fail(
                        f"news WebSocket dropped ({_short(exc)}); rerun with --follow to reconnect"
                    )
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.config.max_backoff)

    async def _handshake(self, ws: ClientConnection) -> None:
        await self._expect(ws, "connected")
        auth = {"action": "auth", "key": self.config.key_id, "secret": self.config.secret_key}
        await ws.send(json.dumps(auth))
        await self._expect(ws, "authenticated")
        await ws.send(json.dumps({"action": "subscribe", "news": list(self.config.symbols)}))

    async def _expect(self, ws: ClientConnection, msg: str) -> None:
        for item in _items(await asyncio.wait_for(ws.recv(), timeout=10)):
            if item.get("T") == "error":
                raise AlpacaAuthError(f"{item.get('code')}: {item.get('msg')}")
            if item.get("T") == "success" and item.get("msg") == msg:
                return
        raise AlpacaAuthError(f"expected '{msg}' from the server")

    async def _receive(self, ws: ClientConnection) -> None:
        while True:
            try:
                timeout = None if self.config.follow else self.config.idle_seconds
                message = await asyncio.wait_for(ws.recv(), timeout=timeout)
            except TimeoutError:
                return  # quiet for idle_seconds without --follow: a batch run is finished
            except websockets.ConnectionClosedOK:
                if self.config.follow:
                    raise
                return  # the server ended the stream cleanly
            for item in _items(message):
                if item.get("T") == "n":
                    self.records.put(
                        RawRecord(ref=f"alpaca:{item.get('id')}", fields=news_fields(item))
                    )
                elif item.get("T") == "error":
                    self._fail(f"Alpaca error {item.get('code')}: {item.get('msg')}")

    def _fail(self, reason: str) -> None:
        self.records.put(RawRecord(ref=self.config.url, error=reason))


def news_fields(item: dict[str, Any]) -> dict[str, Any]:
    """An Alpaca news message in the document schema."""
    body = item.get("content") or item.get("summary") or item.get("headline")
    return {
        "id": f"alpaca:{item.get('id')}",
        "title": item.get("headline") or "",
        "html": body,
        "url": item.get("url"),
        "published_at": item.get("created_at"),
        "source": f"alpaca:{item.get('source') or 'news'}",
        "symbols": list(item.get("symbols") or []),
    }


def _items(message: str | bytes) -> list[dict[str, Any]]:
    try:
        data = json.loads(message)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return []
    if isinstance(data, dict):
        data = [data]
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]

"""What a route needs, as typed FastAPI dependencies. `Server` is built once per app; this is
the only module that reads `app.state`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from microfleet.config import Settings
from microfleet.inference.assistant import Assistant
from microfleet.inference.runtime import Runtime
from microfleet.serving.drain import Drain
from microfleet.serving.security import Limits
from microfleet.serving.tenancy import Principal, principal, readers


@dataclass
class Server:
    """One app's runtime, settings and shared serving state."""

    runtime: Runtime
    settings: Settings
    drain: Drain
    limits: Limits
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    ingest_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one writer at a time
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def assistant(self) -> Assistant:
        return self.runtime.assistant

    @property
    def timeout(self) -> float:
        return self.settings.request_timeout_seconds

    def readers(self, who: Principal) -> tuple[str, ...]:
        """Whose documents `who` may read here (with this server's visibility setting)."""
        return readers(who, self.settings.kb_visibility)


def server_of(app: Starlette) -> Server:
    server = app.state.server
    assert isinstance(server, Server), "create_app sets app.state.server"
    return server


def current_server(conn: HTTPConnection) -> Server:
    return server_of(conn.app)


ServerDep = Annotated[Server, Depends(current_server)]
Caller = Annotated[Principal, Depends(principal)]

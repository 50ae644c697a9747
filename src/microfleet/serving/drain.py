"""Graceful shutdown: on SIGTERM the server stops taking new work, and open answers get
`MICROFLEET_DRAIN_SECONDS` to finish; one still going then ends with an explicit error."""

from __future__ import annotations

import math
import time
from typing import Any

from microfleet.errors import MicrofleetError


class ShuttingDown(MicrofleetError):
    """The drain ended before this answer did."""


class Drain:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline: float | None = None

    def start(self) -> None:
        if self.deadline is None:
            self.deadline = time.monotonic() + self.seconds

    @property
    def active(self) -> bool:
        return self.deadline is not None

    def remaining(self) -> float:
        return math.inf if self.deadline is None else self.deadline - time.monotonic()


def serve(app: Any, host: str, port: int, drain: Drain) -> None:
    """uvicorn, with SIGTERM (and Ctrl-C) starting the drain before uvicorn stops listening;
    uvicorn's own grace outlasts the drain, so no answer is cut without its final frame."""
    import uvicorn

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            drain.start()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=math.ceil(drain.seconds) + 5,
    )
    DrainingServer(config).run()

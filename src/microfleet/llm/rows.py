"""A batch's rows: each is a request (`Job`) whose new tokens become text pieces for its
queue, held back where a multi-byte character or a stop string may be in progress; a row ends
at its end token, its stop, its max_tokens or its cancellation."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from microfleet.llm.generator import Delta, Messages, stop_point


@dataclass(eq=False)
class Job:
    messages: Messages
    max_tokens: int
    temperature: float
    adapter: str | None
    loop: asyncio.AbstractEventLoop
    out: asyncio.Queue[Delta | BaseException]
    cancelled: threading.Event = field(default_factory=threading.Event)
    schema: dict[str, Any] | None = None  # decode JSON under this schema
    stop: Sequence[str] = ()  # the answer ends before the first of these
    top_p: float = 1.0
    seed: int | None = None  # its own random stream (sampling only)

    def samples_like(self, other: Job) -> bool:
        """Whether it may share `other`'s batch (a batch samples one way)."""
        return (self.temperature, self.top_p) == (other.temperature, other.top_p)

    def emit(self, item: Delta | BaseException) -> None:
        try:
            self.loop.call_soon_threadsafe(self.out.put_nowait, item)
        except RuntimeError:  # the caller's event loop is gone: nobody is listening
            self.cancelled.set()


@dataclass
class _Row:
    job: Job
    prompt_tokens: int
    ids: list[int] = field(default_factory=list)
    text: str = ""  # what its tokens say so far
    sent: int = 0  # how much of it the request has been sent
    done: bool = False


class RowStreamer:
    """Routes each row's new token of a batch to its own request, as text pieces."""

    def __init__(
        self, tokenizer: Any, batch: list[Job], eos: frozenset[int], lengths: list[int]
    ) -> None:
        self.tokenizer, self.eos = tokenizer, eos
        self.rows: list[_Row] = []
        self.add(batch, lengths)
        self._prompt_seen = False
        self.cancelled = 0
        self.tokens = 0

    def add(self, batch: list[Job], lengths: list[int], openings: Sequence[list[int]] = ()) -> None:
        """Rows that join: they take the next row indices. A row's answer starts with its
        opening's tokens (fed with its prompt, shown with its first new token)."""
        openings = openings or [[] for _ in batch]
        self.rows += [
            _Row(job, int(n), list(opening))
            for job, n, opening in zip(batch, lengths, openings, strict=True)
        ]

    def on_token(self, index: int, token: int) -> bool:
        """Route row `index`'s new token to its request; True once that row is finished."""
        row = self.rows[index]
        if not row.done:
            self._advance(row, token)
        return row.done

    def _advance(self, row: _Row, token: int) -> None:
        if row.job.cancelled.is_set():
            self.cancelled += 1
            self._finish(row, "cancelled")
            return
        if token in self.eos:
            self._finish(row, "stop")
            return
        row.ids.append(token)
        self.tokens += 1
        text = row.text = self.tokenizer.decode(row.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # hold back half a multi-byte character
            end, stopped = row.sent, False
        else:  # and the start of a stop string, until the next token says
            end, stopped = stop_point(text, row.job.stop)
        self._send(row, end)
        if stopped:
            self._finish(row, "stop", flush=False)
        elif len(row.ids) >= row.job.max_tokens:
            self._finish(row, "length")

    def _send(self, row: _Row, end: int) -> None:
        if end > row.sent:
            row.job.emit(Delta(row.text[row.sent : end]))
            row.sent = end

    def _finish(self, row: _Row, reason: str, flush: bool = True) -> None:
        if flush and reason != "cancelled":  # a tail held back for a stop that never came
            self._send(row, len(row.text.removesuffix("\ufffd")))
        row.done = True
        row.job.emit(Delta("", reason, row.prompt_tokens, len(row.ids)))

    def end(self) -> None:
        for row in self.rows:
            if not row.done:
                self._finish(row, "stop")

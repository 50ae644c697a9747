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
    read: int = 0  # ids[:read] are in `text`
    window: int = 0  # decoding starts here, a few tokens before `read` (see RowStreamer._read)


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
        if not self._read(row):  # hold back half a multi-byte character
            end, stopped = row.sent, False
        else:  # and the start of a stop string, until the next token says
            end, stopped = stop_point(row.text, row.job.stop)
        self._send(row, end)
        if stopped:
            self._finish(row, "stop", flush=False)
        elif len(row.ids) >= row.job.max_tokens:
            self._finish(row, "length")

    def _read(self, row: _Row, last: bool = False) -> bool:
        """Add the text of the row's unread tokens to `row.text`; False while they end in
        half a character (they stay unread). Only the tokens since the last read are decoded,
        with those of the read before (vLLM's incremental detokenizing): a tokenizer may write
        a token differently at the start of a text (SentencePiece drops its leading space),
        and decoding the whole answer at every token cost O(n) a token (1.3% of a 96-token
        stream's engine time, measured with py-spy; ten times that at 1,000 tokens). The
        `last` read keeps what its tokens say in whole characters."""
        decode = self.tokenizer.decode
        before = decode(row.ids[row.window : row.read], skip_special_tokens=True)
        now = decode(row.ids[row.window :], skip_special_tokens=True)
        if now.endswith("\ufffd") and not last:
            return False
        now = now.removesuffix("\ufffd") if last else now
        row.text += now[len(before) :]
        row.window, row.read = row.read, len(row.ids)
        return True

    def _send(self, row: _Row, end: int) -> None:
        if end > row.sent:
            row.job.emit(Delta(row.text[row.sent : end]))
            row.sent = end

    def _finish(self, row: _Row, reason: str, flush: bool = True) -> None:
        if flush and reason != "cancelled":  # a tail held back for a stop that never came
            self._read(row, last=True)
            self._send(row, len(row.text))
        row.done = True
        row.job.emit(Delta("", reason, row.prompt_tokens, len(row.ids)))

    def end(self) -> None:
        for row in self.rows:
            if not row.done:
                self._finish(row, "stop")

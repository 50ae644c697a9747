"""The local backend: one model on one worker thread; concurrent requests share a batch.

Requests that arrive while a batch runs wait for the next one; each batch may mix adapters
(chosen per row), and rows of one adapter that share a prompt prefix compute it once. The model
itself sits behind the `Decoder` seam (llm/decoder.py): llama.cpp or transformers.
Tokens stream back to each request's asyncio queue as they are made,
and a request whose consumer goes away (a client disconnect) is stopped at the next token.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from microfleet.core import threads
from microfleet.errors import UserError
from microfleet.llm.decode import Sampling
from microfleet.llm.decoder import Decoder
from microfleet.llm.generator import (
    BackendUnavailable,
    Delta,
    Generator,
    Messages,
    stop_point,
    text_only,
)
from microfleet.llm.guided import UNUSABLE_SCHEMA, SchemaGuides

log = logging.getLogger("microfleet.engine")


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


@dataclass(eq=False)
class Task:
    """Other work on the decoder, run on the engine thread between batches."""

    fn: Callable[[Any, Any], Any]
    future: Future[Any] = field(default_factory=Future)


@dataclass
class EngineStats:
    batches: int = 0
    requests: int = 0
    largest_batch: int = 0
    cancelled: int = 0
    tokens: int = 0
    prompt_tokens: int = 0  # the batches' prompts, token by token
    prefill_tokens: int = 0  # positions prefill computed: fewer where prompts share a prefix
    stream_tokens_per_s: float = 0.0  # one answer's rate in recent batches (a moving average)


class BatchingEngine:
    """Owns the decoder: every generation runs on its thread, in batches of up to `max_batch`."""

    def __init__(
        self, decoder: Decoder, tokenizer: Any, max_batch: int = 8, window_s: float = 0.002
    ) -> None:
        self.decoder, self.tokenizer = decoder, tokenizer
        self.max_batch, self.window_s = min(max_batch, decoder.max_rows), window_s
        self.stats = EngineStats()
        self.guides = SchemaGuides(tokenizer)
        self._jobs: queue.Queue[Job | Task | None] = queue.Queue()
        self.failure: str | None = None  # why the engine thread died, if it did
        self._thread = threading.Thread(target=self._serve, name="microfleet-generate", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self.failure is None

    def submit(self, job: Job) -> None:
        self._check_alive()
        self._jobs.put(job)

    def call(self, fn: Callable[[Any, Any], Any]) -> Future[Any]:
        """Run `fn(decoder, tokenizer)` on the engine thread, between batches."""
        self._check_alive()
        task = Task(fn)
        self._jobs.put(task)
        return task.future

    def _check_alive(self) -> None:
        if self.failure is not None:
            raise BackendUnavailable(f"the generation engine stopped: {self.failure}")

    def close(self, wait: bool = False) -> None:
        """Stop after the work queued so far; `wait` blocks until the thread has ended."""
        self._jobs.put(None)
        if wait:
            self._thread.join()

    def _serve(self) -> None:
        """The engine thread; should it die anyway, every waiting request fails at once."""
        try:
            self._run()
            self.failure = "closed"
            self._fail_queued()
            self.decoder.close()
        except BaseException as exc:
            self.failure = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            log.exception("the generation engine stopped; /readyz fails from now on")
            self._fail_queued()

    def _fail_queued(self) -> None:
        error = BackendUnavailable(f"the generation engine stopped: {self.failure}")
        while True:
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, Job):
                item.emit(error)
            elif isinstance(item, Task) and item.future.set_running_or_notify_cancel():
                item.future.set_exception(error)

    def _run(self) -> None:
        threads.claim()
        held: list[Job | Task] = []
        while True:
            first = held.pop(0) if held else self._jobs.get()
            if first is None:
                return
            if isinstance(first, Task):
                _execute(first, self.decoder, self.tokenizer)
                continue
            batch = self._collect(first, held)
            live = [job for job in batch if not job.cancelled.is_set()]
            if live:
                self._generate(live)

    def _collect(self, first: Job, held: list[Job | Task]) -> list[Job]:
        """`first` plus what arrives within the window and samples the same way."""
        batch = [first]
        take = [j for j in held if isinstance(j, Job) and j.samples_like(first)]
        for job in take[: self.max_batch - 1]:
            held.remove(job)
            batch.append(job)
        deadline = time.monotonic() + self.window_s
        while len(batch) < self.max_batch:
            try:
                item = self._jobs.get(timeout=max(deadline - time.monotonic(), 1e-4))
            except queue.Empty:
                break
            if item is None:
                self._jobs.put(None)  # close after this batch
                break
            if isinstance(item, Job) and item.samples_like(first):
                batch.append(item)
            else:
                held.append(item)
        return batch

    def _generate(self, jobs: list[Job]) -> None:
        batch, guides = self._guided(jobs)
        if not batch:
            return
        self.stats.batches += 1
        self.stats.requests += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        try:
            prompts = self._encode(batch)
            eos = self.decoder.eos
            rows = RowStreamer(self.tokenizer, batch, eos, [len(p) for p in prompts])
            names = [job.adapter for job in batch]
            started = time.monotonic()
            computed = self.decoder.decode(prompts, rows.on_token, _sampling(batch), names, guides)
            self._measure(rows.tokens / len(batch), time.monotonic() - started)
            self.stats.prompt_tokens += sum(len(p) for p in prompts)
            self.stats.prefill_tokens += computed
            rows.end()
            self.stats.cancelled += rows.cancelled
            self.stats.tokens += rows.tokens
        except Exception as exc:  # the requests get the error; the engine keeps running
            for job in batch:
                job.emit(exc)

    def _guided(self, jobs: list[Job]) -> tuple[list[Job], list[Any]]:
        """The jobs whose schema compiles, with their guides; a job whose schema does not
        gets the error alone, and the rest of the batch goes on."""
        batch, guides = [], []
        for job in jobs:
            try:
                guides.append(self.guides.guide(job.schema) if job.schema else None)
            except Exception as exc:  # outlines-core raises several kinds
                job.emit(UserError(f"{UNUSABLE_SCHEMA}: {exc}"))
                continue
            batch.append(job)
        return batch, guides

    def _measure(self, tokens: float, seconds: float) -> None:
        """A batch's tokens per answer over its time (long batches only: short ones are
        mostly prefill); a lower bound, as answers that end early count as slow."""
        if seconds < 0.5 or tokens < 4:
            return
        rate, previous = tokens / seconds, self.stats.stream_tokens_per_s
        self.stats.stream_tokens_per_s = rate if not previous else 0.7 * previous + 0.3 * rate

    def _encode(self, batch: list[Job]) -> list[list[int]]:
        """Each job's chat-templated prompt as token ids (unpadded: see decode.prefill)."""
        prompts = [
            self.tokenizer.apply_chat_template(
                text_only(job.messages), add_generation_prompt=True, tokenize=False
            )
            for job in batch
        ]
        encoded = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        return [list(ids) for ids in encoded]


def _sampling(batch: list[Job]) -> Sampling:
    first = batch[0]
    return Sampling.seeded(first.temperature, first.top_p, [job.seed for job in batch])


def _execute(task: Task, decoder: Decoder, tokenizer: Any) -> None:
    """Run a task unless its caller gave up on it (a cancelled future takes no result)."""
    if not task.future.set_running_or_notify_cancel():
        return
    try:
        result = task.fn(decoder, tokenizer)
    except Exception as exc:
        task.future.set_exception(exc)
    else:
        task.future.set_result(result)


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
        self.rows = [_Row(job, int(n)) for job, n in zip(batch, lengths, strict=True)]
        self._prompt_seen = False
        self.cancelled = 0
        self.tokens = 0

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


class LocalGenerator(Generator):
    """One served model id: the base model (adapter None) or one LoRA adapter on it."""

    def __init__(
        self,
        engine: BatchingEngine,
        name: str,
        adapter: str | None = None,
        parent: str | None = None,
    ) -> None:
        self.engine, self.name, self.adapter, self.parent = engine, name, adapter, parent

    def tokens_per_second(self) -> float | None:
        return self.engine.stats.stream_tokens_per_s or None

    async def stream(
        self,
        messages: Messages,
        max_tokens: int,
        temperature: float,
        schema: dict[str, Any] | None = None,
        stop: Sequence[str] = (),
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> AsyncIterator[Delta]:
        out: asyncio.Queue[Delta | BaseException] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        job = Job(
            messages, max_tokens, temperature, self.adapter, loop, out,
            schema=schema, stop=stop, top_p=top_p, seed=seed,
        )  # fmt: skip
        self.engine.submit(job)
        try:
            while True:
                item = await out.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason:
                    return
        finally:
            job.cancelled.set()  # a no-op when finished; stops the row when the client left

    async def ready(self) -> bool:
        if not self.engine.alive:
            raise BackendUnavailable(f"the generation engine stopped: {self.engine.failure}")
        return True

    async def close(self) -> None:
        """Stop the engine and wait for its thread to free the model: a process that exits
        while llama.cpp frees its contexts on another thread aborts (measured)."""
        await asyncio.to_thread(self.engine.close, True)

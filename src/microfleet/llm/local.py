"""The local backend: one model on one worker thread; concurrent requests share a batch.

Requests that arrive while a batch runs join it between two steps where the decoder `joins`
(llama.cpp), so no one waits for a long answer to end; elsewhere they wait for the next batch.
Each batch may mix adapters (chosen per row), and rows of one adapter that share a prompt
prefix compute it once. The model
itself sits behind the `Decoder` seam (llm/decoder.py): llama.cpp or transformers.
Tokens stream back to each request's asyncio queue as they are made,
and a request whose consumer goes away (a client disconnect) is stopped at the next token.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import queue
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from microfleet.core import threads
from microfleet.errors import UserError
from microfleet.llm.decode import Sampling
from microfleet.llm.decoder import Admit, Decoder, Joining
from microfleet.llm.generator import (
    BackendUnavailable,
    Delta,
    Generator,
    Messages,
    text_only,
)
from microfleet.llm.guided import UNUSABLE_SCHEMA, SchemaGuides
from microfleet.llm.rows import Job, RowStreamer

log = logging.getLogger("microfleet.engine")
EXIT_WAIT_S = 30.0  # at exit, how long an unclosed engine may take to finish its batch


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
    joined: int = 0  # requests that joined a batch already running


class BatchingEngine:
    """Owns the decoder: every generation runs on its thread, in batches of up to `max_batch`."""

    def __init__(
        self,
        decoder: Decoder,
        tokenizer: Any,
        max_batch: int = 8,
        window_s: float | None = None,
    ) -> None:
        """`window_s`: how long a new batch waits for more requests. By default none where
        the decoder `joins` (a later request joins at the next step; waiting would only add
        to every answer's first token), else 2 ms."""
        self.decoder, self.tokenizer = decoder, tokenizer
        self.max_batch = min(max_batch, decoder.max_rows)
        self.window_s = (0.0 if decoder.joins else 0.002) if window_s is None else window_s
        self.stats = EngineStats()
        self.guides = SchemaGuides(tokenizer)
        self._jobs: queue.Queue[Job | Task | None] = queue.Queue()
        self._held: list[Job | Task | None] = []  # taken from the queue, not yet served
        self.failure: str | None = None  # why the engine thread died, if it did
        self._thread = threading.Thread(target=self._serve, name="microfleet-generate", daemon=True)
        self._thread.start()
        self._at_exit = _closer(weakref.ref(self))  # weak: the hook keeps no engine alive
        atexit.register(self._at_exit)

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
        atexit.unregister(self._at_exit)
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
        if self.decoder.torch_pool:
            threads.claim()
        else:
            threads.single()
        held = self._held
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

    def _collect(self, first: Job, held: list[Job | Task | None]) -> list[Job]:
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
        eos = self.decoder.eos
        rows = RowStreamer(self.tokenizer, [], eos, [])
        try:
            prompts = self._encode(batch)
            self._count(rows, batch, prompts, self._open(batch, guides, prompts))
            names = [job.adapter for job in batch]
            admit = self._admitter(batch[0], rows) if self.decoder.joins else None
            started = time.monotonic()
            computed = self.decoder.decode(
                prompts, rows.on_token, _sampling(batch), names, guides, admit
            )
            self._measure(rows.tokens / len(rows.rows), time.monotonic() - started)
            self.stats.prefill_tokens += computed
            rows.end()
            self.stats.cancelled += rows.cancelled
            self.stats.tokens += rows.tokens
        except Exception as exc:  # the requests get the error; the engine keeps running
            for job in {id(row.job): row.job for row in rows.rows}.values() or batch:
                job.emit(exc)

    def _count(
        self,
        rows: RowStreamer,
        jobs: list[Job],
        prompts: list[list[int]],
        openings: list[list[int]],
    ) -> None:
        """`jobs` join the batch that `rows` streams (and the stats); their prompts end with
        their answers' `openings`."""
        stats, joining = self.stats, bool(rows.rows)
        lengths = [len(p) - len(o) for p, o in zip(prompts, openings, strict=True)]
        rows.add(jobs, lengths, openings)
        stats.prompt_tokens += sum(lengths)
        stats.requests += len(jobs)
        stats.batches += 0 if joining else 1
        stats.joined += len(jobs) if joining else 0
        alive = sum(not row.done for row in rows.rows)
        self.stats.largest_batch = max(self.stats.largest_batch, alive)

    def _admitter(self, first: Job, rows: RowStreamer) -> Admit:
        """What joins the running batch between steps: queued requests that sample as it
        does (a request arriving mid-batch starts at once, not after the batch)."""

        def admit(room: int) -> list[Joining]:
            jobs, guides = self._guided(self._joiners(first, room))
            if not jobs:
                return []
            prompts = self._encode(jobs)
            self._count(rows, jobs, prompts, self._open(jobs, guides, prompts))
            streams = _sampling(jobs).streams or [None] * len(jobs)
            return [
                Joining(prompt, job.adapter, guide, stream)
                for prompt, job, guide, stream in zip(prompts, jobs, guides, streams, strict=True)
            ]

        return admit

    def _joiners(self, first: Job, room: int) -> list[Job]:
        """Up to `room` waiting jobs that may share `first`'s batch, without waiting; the
        rest stay in order for later (nothing after a close is taken)."""
        held, taken = self._held, []
        for job in [j for j in held if isinstance(j, Job) and j.samples_like(first)][:room]:
            held.remove(job)
            taken.append(job)
        while len(taken) < room and None not in held:
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Job) and item.samples_like(first):
                taken.append(item)
            else:
                held.append(item)
        return [job for job in taken if not job.cancelled.is_set()]

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

    def _open(
        self, jobs: list[Job], guides: list[Any], prompts: list[list[int]]
    ) -> list[list[int]]:
        """Each guided job's fixed opening (`SchemaGuides.opening`), appended to its prompt and
        its guide moved past it: one prefill pass computes what would take a decode pass a
        token ('{"country": "Malta", "rate":' is 9 tokens of a 13-token answer)."""
        openings = []
        for job, guide, prompt in zip(jobs, guides, prompts, strict=True):
            tokens = self.guides.opening(job.schema) if guide is not None and job.schema else []
            tokens = tokens[: max(job.max_tokens - 1, 0)]
            for token in tokens:
                guide.advance(token, return_tokens=False)
            prompt += tokens
            openings.append(tokens)
        return openings

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


def _closer(engine: weakref.ref[BatchingEngine]) -> Callable[[], None]:
    """An exit hook for an engine nobody closed (a script that never closes its runtime):
    it stops before the interpreter finalizes, so its thread frees the decoder's native
    memory and threads, not the garbage collector of a dying interpreter, which aborted
    about one such exit in two (`terminate called without an active exception`)."""

    def close() -> None:
        alive = engine()
        if alive is not None and alive._thread.is_alive():
            alive._jobs.put(None)
            alive._thread.join(EXIT_WAIT_S)

    return close


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

"""The orchestrator: micromodels as functions. Route -> dispatch (concurrently) -> compose.

Each tool call is an event on an in-process async dispatcher: its handler asks the micromodel
(its system prompt, the call's question, context retrieved within its scope) on its adapter.
Calls of a round run concurrently, so the local engine batches them across adapters in one
forward pass. A call that fails or times out comes back as an error result, and the answer
says which part is missing. An invalid call goes back to a router that reads the transcript
once, then is dropped; a router that follows up sees the results and may call more, for at
most MAX_ROUNDS rounds. The results go to the composer as `tool` messages, and the answer
cites the sources the micromodels used.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from microfleet.errors import first_line
from microfleet.fleet.compose import (
    COMPOSE_PROMPT,
    Fact,
    aggregate_answer,
    compose_user_message,
    numeric_fields,
    whole_sentences,
)
from microfleet.fleet.router import Plan, Router, ToolCall
from microfleet.knowledge.context import micromodel_hits
from microfleet.knowledge.search import KnowledgeSearch
from microfleet.llm.generator import Generator, Messages
from microfleet.llm.repeats import RepeatGuard
from microfleet.micromodel.prompt import build_messages, context_block
from microfleet.micromodel.spec import FleetSpec, MicromodelSpec

MAX_ROUNDS = 3


@dataclass
class CallResult:
    call: ToolCall
    adapter: str
    output: str | None = None
    data: dict[str, Any] | None = None  # the typed result, for a micromodel with `returns`
    error: str | None = None
    latency_ms: float = 0.0
    sources: list[dict[str, Any]] = field(default_factory=list)
    round: int = 1

    def as_trace(self) -> dict[str, Any]:
        return {
            **self.call.as_dict(),
            "round": self.round,
            "adapter": self.adapter,
            "latency_ms": round(self.latency_ms, 1),
            "output": self.output,
            "data": self.data,
            "error": self.error,
            "sources": [s["index"] for s in self.sources],
        }

    def label(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.call.arguments.items() if k != "question")
        return f"{self.call.name}({shown})" if shown else self.call.name

    def fact(self, spec: MicromodelSpec) -> Fact:
        values = [v for v in self.call.arguments.values() if isinstance(v, str | int | float)]
        return Fact(
            label=", ".join(map(str, values)) or self.call.name,
            micromodel=self.call.name,
            sentence=self.output,
            data=self.data,
            numeric=numeric_fields(spec.returns),
            cites="".join(f" [{s['index']}]" for s in self.sources),
            error=self.error,
        )

    def content(self) -> str:
        """The `tool` message: the answer with its source numbers, or what went wrong."""
        if self.output is None:
            return f"missing ({self.error})"
        return self.output + "".join(f" [{s['index']}]" for s in self.sources)


@dataclass
class FleetOptions:
    call_timeout_s: float = 60.0
    call_max_tokens: int = 48


@dataclass
class Orchestration:
    """What the tools produced: the compose prompt, its sources, and the trace."""

    results: list[CallResult]
    plan: Plan
    sources: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rounds: int = 0

    def trace(self, router: str) -> dict[str, Any]:
        return {
            "router": router,
            "rounds": self.rounds,
            "scores": self.plan.scores,
            "calls": [r.as_trace() for r in self.results],
            "dropped": self.plan.dropped,
            "notes": self.notes,
        }

    def results_block(self) -> str:
        """Every micromodel answer, one line each, with the global source numbers."""
        return "\n".join(f"- {r.label()}: {r.content()}" for r in self.results)


class Orchestrator:
    """The fleet at work; built with named parts. `generators`: each micromodel's adapter
    (`fallback`, the base model, answers for one without); `search`: None, no retrieval."""

    def __init__(
        self,
        *,
        fleet: FleetSpec,
        router: Router,
        generators: dict[str, Generator],
        fallback: Generator,
        search: KnowledgeSearch | None = None,
        options: FleetOptions | None = None,
        versions: dict[str, str] | None = None,
    ) -> None:
        self.fleet, self.router, self.generators = fleet, router, generators
        self.fallback, self.search, self.options = fallback, search, options or FleetOptions()
        self.versions = versions or {}  # each adapter's version, for the trace

    def missing_adapters(self) -> list[str]:
        return [s.name for s in self.fleet.micromodels if s.name not in self.generators]

    async def run(self, question: str, readers: tuple[str, ...] = ()) -> Orchestration:
        """Plan, call and collect; micromodels see only documents of `readers` (all: ())."""
        done = Orchestration([], Plan())
        transcript: Messages = []
        made: set[str] = set()
        fed_back: set[str] = set()
        for number in range(1, MAX_ROUNDS + 1):
            plan = await self.router.plan(question, transcript)
            done.plan.scores = done.plan.scores or plan.scores
            calls = _new_calls(plan.calls, made)
            retry = [d for d in plan.dropped if self._feed_back(d, number, fed_back)]
            done.plan.dropped += [{**d, "fed_back": d in retry} for d in plan.dropped]
            results = await self._round(calls, number, readers)
            done.results += results
            done.rounds = number
            if not retry and not (self.router.follows_up and calls):
                break
            if number == MAX_ROUNDS:
                done.notes.append(f"stopped after {MAX_ROUNDS} tool rounds")
            transcript += round_messages(results, retry)
        self._finish(done)
        return done

    def _feed_back(self, dropped: dict[str, Any], number: int, fed_back: set[str]) -> bool:
        """Whether an invalid call goes back to the router: once per micromodel, if it reads."""
        if not self.router.takes_feedback or number == MAX_ROUNDS or dropped["name"] in fed_back:
            return False
        fed_back.add(dropped["name"])
        return True

    async def _round(
        self, calls: list[ToolCall], number: int, readers: tuple[str, ...]
    ) -> list[CallResult]:
        # Retrieval for every call first (one embedding batch), then every generation at once:
        # the engine sees them together and batches them across adapters.
        contexts = await asyncio.to_thread(self._retrieve_all, calls, readers)
        progress = Progress(self.options.call_timeout_s)
        watchdog = asyncio.create_task(progress.watch())
        try:
            results = await asyncio.gather(
                *[
                    self._dispatch(call, hits, progress)
                    for call, hits in zip(calls, contexts, strict=True)
                ]
            )
        finally:
            watchdog.cancel()
        for result in results:
            result.round = number
        return list(results)

    def _finish(self, done: Orchestration) -> None:
        self._number_sources(done)
        if not done.results:
            done.notes.append("no micromodel fits this question: answered from retrieval alone")
        for name in sorted({r.call.name for r in done.results if r.adapter == "base"}):
            done.notes.append(f"{name}: no adapter in the registry; the base model answered")
        done.notes += [
            f"dropped {d['name']}: {d['error']}"
            + (" (fed back to the router)" if d["fed_back"] else "")
            for d in done.plan.dropped
        ]

    def _retrieve_all(
        self, calls: list[ToolCall], readers: tuple[str, ...] = ()
    ) -> list[list[Any]]:
        if not calls or self.search is None:
            return [[] for _ in calls]
        search = self.search
        questions = [self.fleet.get(c.name).question_for(c.arguments) for c in calls]
        vectors = search.embedder.embed(questions).tolist()
        scopes = [self.fleet.get(c.name).scope.as_filter().readable_by(readers) for c in calls]
        return [
            micromodel_hits(search, q, scope, v)
            for q, scope, v in zip(questions, scopes, vectors, strict=True)
        ]

    async def _dispatch(self, call: ToolCall, hits: list[Any], progress: Progress) -> CallResult:
        spec = self.fleet.get(call.name)
        generator = self.generators.get(call.name, self.fallback)
        adapter = "base"
        if call.name in self.generators:
            adapter = f"{call.name}@{self.versions.get(call.name, 'unversioned')}"
        result = CallResult(call, adapter)
        started = time.perf_counter()
        answer = asyncio.create_task(self._answer(spec, call, generator, hits, progress))
        progress.tasks.append(answer)
        try:
            output, result.data = await answer
            result.output = _with_disclaimer(output, spec)
            result.sources = [h.as_source(i) for i, h in enumerate(hits, 1)]
        except asyncio.CancelledError:
            if not progress.expired:
                raise
            result.error = f"timed out: no progress for {progress.timeout_s:g} s"
        except Exception as exc:  # one failed call is one missing part, not a failed answer
            result.error = first_line(exc)
        result.latency_ms = (time.perf_counter() - started) * 1000
        return result

    async def _answer(
        self,
        spec: MicromodelSpec,
        call: ToolCall,
        generator: Generator,
        hits: list[Any],
        progress: Progress,
    ) -> tuple[str, dict[str, Any] | None]:
        """The call's sentence, and its typed result when the micromodel declares `returns`."""
        context = context_block(hits) if spec.context else ""
        messages = build_messages(spec.system_prompt, spec.question_for(call.arguments), context)
        parts = []
        schema = spec.result_schema(call.arguments)
        guard = RepeatGuard(span=0) if schema else RepeatGuard()  # prose may loop; JSON not
        stream = generator.stream(messages, self.options.call_max_tokens, 0.0, schema)
        async with contextlib.aclosing(stream) as deltas:  # type: ignore[type-var]
            async for delta in deltas:
                progress.tick()
                parts.append(guard.feed(delta.text))
                if guard.looping:
                    break
        text = "".join([*parts, guard.flush()]).strip()
        if schema is None:
            return whole_sentences(text), None
        data = parse_result(text, schema)
        return spec.say(data), data

    @staticmethod
    def _number_sources(done: Orchestration) -> None:
        """One numbering for the whole answer: each document once, whichever chunks of it
        the calls read."""
        seen: dict[str, dict[str, Any]] = {}
        for result in done.results:
            numbered: list[dict[str, Any]] = []
            for source in result.sources:
                if source["doc_id"] not in seen:
                    seen[source["doc_id"]] = {**source, "index": len(seen) + 1}
                    done.sources.append(seen[source["doc_id"]])
                if seen[source["doc_id"]] not in numbered:
                    numbered.append(seen[source["doc_id"]])
            result.sources = numbered

    def facts(self, done: Orchestration) -> list[Fact]:
        return [r.fact(self.fleet.get(r.call.name)) for r in done.results]

    def typed_answer(self, question: str, done: Orchestration) -> str | None:
        """The answer read off the typed results when every call returned one (the asked
        extremes, then the results in order), or the one prose result; None when a model
        must compose it."""
        facts = self.facts(done)
        answer = aggregate_answer(question, facts)
        if answer is not None and all(f.data is not None for f in facts):
            done.notes.append("answered from the micromodels' typed results")
        elif answer is not None:
            done.notes.append("answered by the one micromodel called, in its words")
        return answer

    def compose_messages(self, question: str, done: Orchestration, history: Messages) -> Messages:
        """System, history, then the question with the facts the calls established, laid
        out and aggregated for a small model (fleet/compose.py)."""
        system = COMPOSE_PROMPT.format(description=self.fleet.description or "an assistant.")
        facts = self.facts(done)
        return [
            {"role": "system", "content": system},
            *history,
            {"role": "user", "content": compose_user_message(question, facts)},
        ]


def round_messages(results: list[CallResult], invalid: list[dict[str, Any]]) -> Messages:
    """One round as OpenAI messages: the assistant's calls, then a `tool` message for each
    (an invalid call's message says what is wrong, so the router can correct it)."""
    calls = [(r.call.id, r.call.name, r.call.arguments) for r in results]
    calls += [(d["id"], d["name"], d["arguments"]) for d in invalid]
    assistant = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
            for call_id, name, arguments in calls
        ],
    }
    tools = [{"role": "tool", "tool_call_id": r.call.id, "content": r.content()} for r in results]
    tools += [
        {
            "role": "tool",
            "tool_call_id": d["id"],
            "content": f"invalid call: {d['error']}. Call it again with valid arguments, "
            "or leave it out.",
        }
        for d in invalid
    ]
    return [assistant, *tools] if calls else []


class Progress:
    """One deadline for a round's calls: it expires only when none of them has made progress
    (a streamed token) for `timeout_s`, so calls queued behind a busy engine do not time out
    while it works through them."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.last = time.monotonic()
        self.expired = False
        self.tasks: list[asyncio.Task[Any]] = []

    def tick(self) -> None:
        self.last = time.monotonic()

    async def watch(self) -> None:
        while True:
            idle = time.monotonic() - self.last
            if idle >= self.timeout_s:
                self.expired = True
                for task in self.tasks:
                    task.cancel()
                return
            await asyncio.sleep(self.timeout_s - idle)


def parse_result(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A typed result: the JSON a micromodel wrote under its schema, checked against it."""
    from jsonschema import Draft202012Validator

    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"the result is not complete JSON: {text[:80]!r}") from None
    error = next(iter(Draft202012Validator(schema).iter_errors(data)), None)
    if error is not None:
        raise ValueError(f"the result does not match its schema: {error.message}")
    return dict(data)


def _new_calls(calls: list[ToolCall], made: set[str]) -> list[ToolCall]:
    """Never the same call twice: not within a round (a model may repeat one), not across."""
    fresh = []
    for call in calls:
        key = json.dumps([call.name, call.arguments], sort_keys=True)
        if key not in made:
            made.add(key)
            fresh.append(call)
    return fresh


def _with_disclaimer(text: str, spec: MicromodelSpec) -> str:
    if spec.disclaimer and spec.disclaimer not in text:
        return f"{text} {spec.disclaimer}".strip()
    return text

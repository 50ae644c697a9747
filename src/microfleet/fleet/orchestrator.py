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
from typing import Any

from microfleet.core.hits import SearchFilter, cites
from microfleet.errors import first_line
from microfleet.fleet.calls import Progress, parse_result
from microfleet.fleet.compose import (
    COMPOSE_PROMPT,
    Fact,
    aggregate_answer,
    compose_user_message,
    whole_sentences,
)
from microfleet.fleet.coverage import Coverage
from microfleet.fleet.reader import Reading, SentenceReader, nothing_on, unmentioned
from microfleet.fleet.results import CallResult, FleetOptions, Orchestration, round_messages
from microfleet.fleet.router import Plan, Router, ToolCall
from microfleet.knowledge.context import micromodel_hits
from microfleet.knowledge.search import KnowledgeSearch
from microfleet.knowledge.sides import covering
from microfleet.llm.generator import Generator, Messages
from microfleet.llm.repeats import RepeatGuard
from microfleet.micromodel.prompt import CONTEXT_K, build_messages, context_block
from microfleet.micromodel.spec import FleetSpec, MicromodelSpec

MAX_ROUNDS = 3


class Orchestrator:
    """The fleet at work; built with named parts. `generators`: each micromodel's adapter
    (`fallback`, the base model, answers for one without); `search`: None, no retrieval;
    `reader`: where set, a prose micromodel without an adapter answers with the sentences of
    its context that answer the question, not with the base model's words."""

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
        reader: SentenceReader | None = None,
    ) -> None:
        self.fleet, self.router, self.generators = fleet, router, generators
        self.fallback, self.search, self.options = fallback, search, options or FleetOptions()
        self.versions = versions or {}  # each adapter's version, for the trace
        self.reader = reader
        self.coverage = Coverage(fleet, reader.sparse) if reader is not None else None

    def missing_adapters(self) -> list[str]:
        return [s.name for s in self.fleet.micromodels if s.name not in self.generators]

    def quotes(self, name: str) -> bool:
        """Whether a call of micromodel `name` is answered by its context's sentences: a
        prose micromodel with context and no adapter, where there is a reader."""
        quotable = self.fleet.get(name).quotable
        return self.reader is not None and quotable and name not in self.generators

    async def run(
        self,
        question: str,
        readers: tuple[str, ...] = (),
        vector: list[float] | None = None,
        focus: str | None = None,
    ) -> Orchestration:
        """Plan, call and collect; micromodels see only documents of `readers` (all: ()).
        `vector`: the question's embedding where the caller has it (else embedded once, if
        the reader needs it). `focus`: what quoted sentences must answer, where it is not the
        whole question (a follow-up's own words; core/followups.py)."""
        done = Orchestration([], Plan())
        asked = _Asked(question, vector, self.search, focus)
        transcript: Messages = []
        made: set[str] = set()
        fed_back: set[str] = set()
        for number in range(1, MAX_ROUNDS + 1):
            plan = await self.router.plan(question, transcript)
            done.plan.scores = done.plan.scores or plan.scores
            calls = _new_calls(plan.calls, made)
            retry = [d for d in plan.dropped if self._feed_back(d, number, fed_back)]
            done.plan.dropped += [{**d, "fed_back": d in retry} for d in plan.dropped]
            results = await self._round(asked, calls, number, readers)
            done.results += results
            done.rounds = number
            if not retry and not (self.router.follows_up and calls):
                break
            if number == MAX_ROUNDS:
                done.notes.append(f"stopped after {MAX_ROUNDS} tool rounds")
            transcript += round_messages(results, retry)
        self._finish(done)
        await asyncio.to_thread(self._read_beyond, asked, done, readers)
        return done

    def _read_beyond(self, asked: _Asked, done: Orchestration, readers: tuple[str, ...]) -> None:
        """When the question asks more than the typed micromodels called answer ("What was
        Estonia's VAT rate before the increase?"), the sentences of the knowledge base that
        answer it follow their answer, from documents the calls did not cite."""
        typed = {r.call.name for r in done.results if r.data is not None}
        if not typed or self.reader is None or self.search is None or self.coverage is None:
            return
        if not self.coverage.beyond(asked.question, typed):
            return
        scope = SearchFilter().readable_by(readers) if readers else None
        hits = micromodel_hits(self.search, asked.question, scope, asked.vector())
        reading = self.reader.answer(asked.question, hits, asked.vector(), asked.focus)
        cited = {source["doc_id"]: source for source in done.sources}
        if reading is None or all(hit.doc_id in cited for hit in reading.hits):
            return
        for hit in reading.hits:
            cited.setdefault(hit.doc_id, hit.as_source(len(cited) + 1))
        done.sources[:] = list(cited.values())
        docs = dict.fromkeys(hit.doc_id for hit in reading.hits)
        done.beyond = reading.text + cites(cited[doc] for doc in docs)
        called = ", ".join(sorted(typed))
        done.notes.append(f"the question asks beyond {called}: the knowledge base's words follow")

    def _feed_back(self, dropped: dict[str, Any], number: int, fed_back: set[str]) -> bool:
        """Whether an invalid call goes back to the router: once per micromodel, if it reads."""
        if not self.router.takes_feedback or number == MAX_ROUNDS or dropped["name"] in fed_back:
            return False
        fed_back.add(dropped["name"])
        return True

    async def _round(
        self, asked: _Asked, calls: list[ToolCall], number: int, readers: tuple[str, ...]
    ) -> list[CallResult]:
        # Retrieval for every call first (one embedding batch), then every generation at once:
        # the engine sees them together and batches them across adapters.
        contexts = await asyncio.to_thread(self._retrieve_all, calls, readers)
        readings = await asyncio.to_thread(self._read_all, asked, calls, contexts, readers)
        progress = Progress(self.options.call_timeout_s)
        watchdog = asyncio.create_task(progress.watch())
        try:
            results = await asyncio.gather(
                *[
                    self._dispatch(call, hits, progress, reading)
                    for call, hits, reading in zip(calls, contexts, readings, strict=True)
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
        for name in sorted({r.call.name for r in done.results if r.adapter == "sources"}):
            done.notes.append(f"{name}: no adapter in the registry; its sources' sentences answer")
        done.notes += [
            f"dropped {d['name']}: {d['error']}"
            + (" (fed back to the router)" if d["fed_back"] else "")
            for d in done.plan.dropped
        ]

    def _retrieve_all(
        self, calls: list[ToolCall], readers: tuple[str, ...] = ()
    ) -> list[list[Any]]:
        """Each call's context: the micromodel's top chunks, or, for a call its sources'
        sentences answer, the reader's `quote_k` (a figure is often in the third or fourth)."""
        if not calls or self.search is None:
            return [[] for _ in calls]
        questions = [self.fleet.get(c.name).question_for(c.arguments) for c in calls]
        vectors = self.search.embedder.embed(questions).tolist()
        depths = [self.options.quote_k if self.quotes(c.name) else CONTEXT_K for c in calls]
        return [
            self._context(call, question, vector, readers, k)
            for call, question, vector, k in zip(calls, questions, vectors, depths, strict=True)
        ]

    def _context(
        self, call: ToolCall, question: str, vector: list[float], readers: tuple[str, ...], k: int
    ) -> list[Any]:
        assert self.search is not None
        scope = self.fleet.get(call.name).scope.as_filter().readable_by(readers)
        return micromodel_hits(self.search, question, scope, vector, k)

    def _read_all(
        self,
        asked: _Asked,
        calls: list[ToolCall],
        contexts: list[list[Any]],
        readers: tuple[str, ...] = (),
    ) -> list[Reading | None]:
        """For each prose call that no adapter answers, the sentences of its context that
        answer the user's question (None: the model answers, from the micromodel's own top
        chunks, which replace the reader's wider context in `contexts`); where the context
        never names what the question names, that it has nothing about it."""
        readings: list[Reading | None] = []
        for index, (call, hits) in enumerate(zip(calls, contexts, strict=True)):
            reader = self.reader if hits and self.quotes(call.name) else None
            quoted = None
            if reader is not None:  # each thing the question sets side by side, in its sources
                hits = contexts[index] = self._cover_sides(asked.question, call, hits, readers)
            if reader is not None and (missing := unmentioned(asked.question, hits)):
                quoted = Reading(nothing_on(missing), [])  # not another company's news
            elif reader is not None:
                quoted = reader.answer(asked.question, hits, asked.vector(), asked.focus)
                if quoted is None:
                    question = self.fleet.get(call.name).question_for(call.arguments)
                    vector = reader.embedder.embed([question])[0].tolist()
                    contexts[index] = self._context(call, question, vector, readers, CONTEXT_K)
            readings.append(quoted)
        return readings

    def _cover_sides(
        self, question: str, call: ToolCall, hits: list[Any], readers: tuple[str, ...]
    ) -> list[Any]:
        assert self.search is not None
        embed = self.search.embedder.embed

        def find(text: str) -> list[Any]:
            vector = embed([text])[0].tolist()
            return self._context(call, text, vector, readers, self.options.quote_k)

        return covering(question, hits, find)

    async def _dispatch(
        self, call: ToolCall, hits: list[Any], progress: Progress, reading: Reading | None = None
    ) -> CallResult:
        spec = self.fleet.get(call.name)
        if reading is not None:  # quoted already (_read_all): nothing to generate
            said = _with_disclaimer(reading.text, spec) if reading.hits else reading.text
            result = CallResult(call, "sources", said)  # no advice given, no disclaimer
            result.sources = [h.as_source(i) for i, h in enumerate(reading.hits, 1)]
            return result
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
        """The answer read off the results when every call returned one: the prose ones in
        their own words, then what the typed ones say (the asked extremes, then the results in
        order), then what the knowledge base adds; None when a part is missing and a model
        must compose the answer."""
        facts = self.facts(done)
        answer = aggregate_answer(question, facts)
        if answer is None:
            return None
        if all(f.data is not None for f in facts):
            done.notes.append("answered from the micromodels' typed results")
        else:
            done.notes.append("answered by the micromodels called, in their words")
        return answer if done.beyond is None else f"{answer}\n\n{done.beyond}"

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


class _Asked:
    """The question of one run, what quoted sentences must answer where that is not the whole
    question (`focus`), and the question's embedding, computed at most once and only if used."""

    def __init__(
        self,
        question: str,
        vector: list[float] | None,
        search: KnowledgeSearch | None,
        focus: str | None = None,
    ):
        self.question, self._vector, self._search = question, vector, search
        self.focus = focus if focus and focus != question else None

    def vector(self) -> list[float] | None:
        if self._vector is None and self._search is not None:
            self._vector = self._search.embedder.embed([self.question])[0].tolist()
        return self._vector

"""The answer pipeline behind every transport (HTTP, SSE, WebSocket, CLI):

memory -> cache (exact, then semantic) -> retrieval -> a prompt that fits -> generation
-> memory and cache updated. `prepare` does everything up to generation; `stream` generates.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from microfleet.core.followups import standalone
from microfleet.core.glossary import Glossary
from microfleet.core.hits import SearchFilter, SearchHit, cites
from microfleet.errors import StoreError, UserError, first_line
from microfleet.feedback.store import AnswerRecord, FeedbackStore
from microfleet.fleet.orchestrator import Orchestrator
from microfleet.fleet.reader import SentenceReader, nothing_on, unmentioned
from microfleet.inference.cache import CacheKey, SemanticCache
from microfleet.inference.memory import Memory
from microfleet.inference.rag import (
    NO_SOURCES_ANSWER,
    Grounding,
    citation_footer,
    ground,
    split_messages,
    window,
)
from microfleet.inference.tracing import Tracer, TraceRecord
from microfleet.inference.turns import AnswerOptions, ModelRoute, Prepared, Turn
from microfleet.knowledge.search import KnowledgeSearch
from microfleet.knowledge.sides import covering
from microfleet.llm.generator import Delta, Messages
from microfleet.llm.repeats import RepeatGuard, guarded
from microfleet.micromodel.spec import FLEET_MODEL

log = logging.getLogger("microfleet.inference")


REFUSED_ANSWER = (
    "This question reads like an attempt to override the assistant's instructions, so it was "
    "not answered. Ask it without instructions to the assistant."
)
APPENDIX_HEADING = "\n\nMicromodel answers:\n"  # after a fleet answer: each call's answer


class UnknownModel(UserError):
    pass


@dataclass(kw_only=True)
class Assistant:
    """The served models and what answers with them; inference/runtime.py builds one."""

    routes: dict[str, ModelRoute]
    count_tokens: Callable[[str], int]
    memory: Memory
    tracer: Tracer
    options: AnswerOptions = field(default_factory=AnswerOptions)
    search: KnowledgeSearch | None = None  # None: no retrieval (plain chat)
    cache: SemanticCache | None = None
    orchestrator: Orchestrator | None = None  # the "fleet" model's
    answers: FeedbackStore | None = None  # kept for ratings
    # The fleet's answer from retrieval alone quotes its sources (fleet/reader.py).
    reader: SentenceReader | None = None
    glossary: Glossary = field(default_factory=Glossary)  # the fleet's short forms

    def route(self, model: str) -> ModelRoute:
        if model not in self.routes:
            raise UnknownModel(f"unknown model '{model}'; known: {', '.join(self.routes)}")
        return self.routes[model]

    async def prepare(self, turn: Turn) -> Prepared:
        route = self.route(turn.model)
        question, earlier, system = split_messages(turn.messages)
        if turn.guard == "refuse":
            refused = Prepared(turn, route, question, fixed_answer=REFUSED_ANSWER)
            refused.finish, refused.cacheable = "content_filter", False
            return refused
        history = await asyncio.to_thread(self._history, turn.memory_key)
        before = [m["content"] for m in [*history, *earlier] if m["role"] == "user"]
        whole = standalone([*before, question])
        text, focus = self.glossary.expand(whole.text), self.glossary.expand(whole.focus)
        vector = turn.vector if text == question else None
        prepared = Prepared(turn, route, question, text, focus, vector=vector)
        if self.tracer.enabled:
            prepared.trace = TraceRecord(turn.model, question)
        plain = not turn.stop and turn.schema is None  # what the cache's key describes
        if self.cache is not None and turn.use_cache and turn.temperature == 0 and plain:
            earlier_all = [*history, *earlier]
            prepared.cache_key = await asyncio.to_thread(
                self._cache_key, turn, route, earlier_all, question, system
            )
            if await asyncio.to_thread(self._lookup, prepared):
                return prepared
        elif self.cache is not None:
            self.cache.stats.bypassed += 1
        fleet = turn.model == FLEET_MODEL and self.orchestrator is not None and not turn.guard
        if fleet and await self._orchestrate(prepared, [*history, *earlier]):
            return prepared
        return await self._from_sources(prepared, fleet, system, [*history, *earlier], before)

    async def _from_sources(
        self,
        prepared: Prepared,
        fleet: bool,
        system: list[str],
        dialogue: Messages,
        before: list[str],
    ) -> Prepared:
        """The answer from retrieval: quoted (the fleet's, where its sources answer), else
        the model's, grounded in the top k. Structured output is always the model's JSON,
        under the client's schema: never a quote or a sentence saying nothing was found."""
        structured = prepared.turn.schema is not None
        quoting = fleet and self.reader is not None and not structured
        depth = self.options.quote_k if quoting else self.options.k
        hits = await self._retrieve(prepared, depth) if prepared.turn.rag and self.search else None
        if hits == [] and not dialogue and not structured:
            prepared.fixed_answer = NO_SOURCES_ANSWER  # rather than an invented answer
            prepared.cacheable = False  # the knowledge base may have the answer tomorrow
            return prepared
        if hits == []:
            hits = None  # a follow-up: the conversation is the only context
        if quoting and hits:  # each thing the question sets side by side, in its sources
            hits = await asyncio.to_thread(self._cover_sides, prepared, hits, depth)
        if quoting and hits and (missing := unmentioned(prepared.standalone, hits)):
            prepared.fixed_answer = nothing_on(missing)  # not another country's rate
            prepared.cacheable = False
            return prepared
        if quoting and hits and self._quote(prepared, hits):
            return prepared
        if quoting and before and await self._quote_in_context(prepared, before):
            return prepared
        if hits and depth != self.options.k:  # the model reads its own top k
            hits = await self._retrieve(prepared, self.options.k)
        return self._ground(prepared, system, dialogue, hits)

    async def _quote_in_context(self, prepared: Prepared, before: list[str]) -> bool:
        """A question that nothing answers on its own, in a conversation, read with the one
        before it ("How long was the trial?" after "What did Solace Pharma report?"): quoted
        when a sentence close to the conversation holds one of the question's own words."""
        own = self.glossary.expand(prepared.question)
        if prepared.standalone != own or self.search is None:
            return False  # made whole already, or nothing to search
        alone = (prepared.standalone, prepared.focus, prepared.vector)
        prepared.standalone = self.glossary.expand(f"{standalone(before).text} {own}")
        prepared.focus, prepared.vector = own, None
        hits = await self._retrieve(prepared, self.options.quote_k)
        if hits and self._quote(prepared, hits, own_words=True):
            if prepared.fleet_trace is not None:
                prepared.fleet_trace["notes"].append("read with the question before it")
            return True
        prepared.standalone, prepared.focus, prepared.vector = alone
        return False

    def _quote(self, prepared: Prepared, hits: list[SearchHit], own_words: bool = False) -> bool:
        """The fleet's answer from retrieval alone: the sentences of its sources that answer
        the question (False: none does, and the base model answers)."""
        if self.reader is None:
            return False
        focus = prepared.focus if prepared.focus != prepared.standalone else None
        vector = self._vector(prepared)
        reading = self.reader.answer(prepared.standalone, hits, vector, focus, own_words)
        if reading is None:
            return False
        prepared.sources = [hit.as_source(i) for i, hit in enumerate(reading.hits, 1)]
        prepared.fixed_answer = reading.text + cites(prepared.sources)
        if prepared.fleet_trace is not None:
            prepared.fleet_trace["notes"].append("answered with its sources' sentences")
        return True

    def _ground(
        self,
        prepared: Prepared,
        system: list[str],
        dialogue: Messages,
        hits: list[SearchHit] | None,
    ) -> Prepared:
        """The prompt within the window. The client's system prompt replaces the default,
        but never the grounding instruction."""
        turn, grounded = prepared.turn, hits is not None
        prompt = "\n\n".join(
            system if system and not grounded else [prepared.route.prompt(grounded), *system]
        )
        budget = self.options.context_window - turn.max_tokens
        grounding: Grounding = ground(
            prompt, dialogue, prepared.question, hits, budget, self.count_tokens
        )
        prepared.messages, prepared.sources = grounding.messages, grounding.sources
        return prepared

    async def _orchestrate(self, prepared: Prepared, history: Messages) -> bool:
        """Run the micromodels; False when none fits (the question gets plain RAG)."""
        assert self.orchestrator is not None
        done = await self.orchestrator.run(
            prepared.standalone, prepared.turn.readers, prepared.vector, prepared.focus
        )
        typed = self.orchestrator.typed_answer(prepared.standalone, done) if done.results else None
        prepared.fleet_trace = done.trace(self.orchestrator.router.name)
        if not done.results:
            return False
        prepared.cacheable = bool(done.sources) and all(r.error is None for r in done.results)
        prepared.sources = done.sources
        if typed is not None and prepared.turn.schema is None:  # read off the results
            prepared.fixed_answer = typed
            return True
        budget = self.options.context_window - prepared.turn.max_tokens
        history = window(history, max(budget // 4, 0), self.count_tokens)
        prepared.messages = self.orchestrator.compose_messages(prepared.standalone, done, history)
        prepared.appendix = APPENDIX_HEADING + done.results_block()
        return True

    def _history(self, session: str | None) -> Messages:
        if not session or self.options.memory_tokens == 0:
            return []
        try:
            stored = self.memory.load(session)
        except Exception as exc:  # Redis down, a locked database: say so, do not guess
            raise StoreError(f"conversation memory is unavailable: {first_line(exc)}") from None
        return window(stored, self.options.memory_tokens, self.count_tokens)

    def _cache_key(
        self, turn: Turn, route: ModelRoute, earlier: Messages, question: str, system: list[str]
    ) -> CacheKey:
        """Everything that shapes the answer: the client's system prompts, every earlier
        turn, the parameters, what the tenant may read, and the model's version."""
        shaping = [turn.max_tokens, turn.rag, repr(turn.filter), list(turn.readers), system]
        params = json.dumps(shaping, ensure_ascii=False)
        version = self.search.store.version() if self.search else "none"
        return CacheKey(
            turn.tenant,
            f"{turn.model}@{route.version}",
            version,
            json.dumps(earlier),
            question,
            params,
        )

    def _vector(self, prepared: Prepared) -> list[float]:
        if prepared.vector is None:
            if self.search is None:
                raise UserError("no embedder: the semantic cache needs the knowledge base")
            prepared.vector = self.search.embedder.embed([prepared.standalone])[0].tolist()
        return prepared.vector

    def _lookup(self, prepared: Prepared) -> bool:
        assert self.cache is not None and prepared.cache_key is not None
        found = self.cache.lookup(prepared.cache_key, lambda: self._vector(prepared))
        if found is None:
            return False
        prepared.cached, answer = found
        prepared.fixed_answer, prepared.sources = answer["text"], answer["sources"]
        prepared.fleet_trace = answer.get("trace")  # the calls it came from (None before)
        return True

    async def _retrieve(self, prepared: Prepared, k: int) -> list[SearchHit]:
        started = time.time_ns()
        hits = await asyncio.to_thread(self._search, prepared, k)
        if prepared.trace:
            found = [{"doc_id": h.doc_id, "title": h.title, "score": h.score} for h in hits]
            prepared.trace.step(
                "retrieve", started, {"question": prepared.standalone}, {"hits": found}
            )
        return hits

    def _search(self, prepared: Prepared, k: int, text: str | None = None) -> list[SearchHit]:
        """The question's top `k` (or `text`'s, searched within the same bounds)."""
        assert self.search is not None
        flt = _merge(prepared.route.scope, prepared.turn.filter)
        if prepared.turn.readers:
            flt = (flt or SearchFilter()).readable_by(prepared.turn.readers)
        if text is None:
            vector = self._vector(prepared)
        else:
            vector = self.search.embedder.embed([text])[0].tolist()
        return self.search.relevant(
            text or prepared.standalone,
            vector,
            k,
            self.options.min_similarity,
            flt,
            self.options.others_within,
        )

    def _cover_sides(self, prepared: Prepared, hits: list[SearchHit], k: int) -> list[SearchHit]:
        return covering(prepared.standalone, hits, lambda text: self._search(prepared, k, text))

    async def stream(self, prepared: Prepared, choice: int = 0) -> AsyncIterator[Delta]:
        """The answer, piece by piece; memory and cache are updated once it is complete.
        Other `choice`s (OpenAI's `n`) sample again, from their own seed, and are not kept."""
        if prepared.fixed_answer is not None:
            yield Delta(prepared.fixed_answer)
            yield Delta("", prepared.finish, 0, 0)
            answer = prepared.fixed_answer
            if choice == 0:
                await asyncio.to_thread(self._remember, prepared, answer, None, answer)
            return
        turn, parts, started = prepared.turn, [], time.time_ns()
        # Prose is guarded against loops (a small model falls into them, whoever asked);
        # structured output is not, as its guide ends it.
        guard = RepeatGuard(span=0) if turn.schema else RepeatGuard()
        deltas = prepared.route.generator.stream(
            prepared.messages,
            turn.max_tokens,
            turn.temperature,
            turn.schema,
            turn.stop,
            turn.top_p,
            None if turn.seed is None else turn.seed + choice,
        )
        prompt = sum(self.count_tokens(m["content"]) for m in prepared.messages)
        last = Delta("", "stop")
        async for delta in guarded(deltas, guard, self.count_tokens, prompt):
            if delta.finish_reason:
                last = delta  # held back: the footer goes before it
            else:
                parts.append(delta.text)
                yield delta
        prepared.cacheable = prepared.cacheable and not guard.looping
        said = text = "".join(parts).strip()
        if prepared.appendix and turn.schema is None:  # structured output is the JSON alone
            text += prepared.appendix
            yield Delta(prepared.appendix)
        wanted = self.options.source_footer and turn.schema is None  # sources travel as data
        footer = citation_footer(text, prepared.sources) if wanted else ""
        if footer:
            text += footer
            yield Delta(footer)
        if prepared.trace:
            usage = {
                "prompt_tokens": last.prompt_tokens,
                "completion_tokens": last.completion_tokens,
            }
            prepared.trace.step("generate", started, {"messages": prepared.messages}, usage)
        if choice == 0:
            await asyncio.to_thread(self._remember, prepared, text, last, said)
        yield last

    def _remember(self, prepared: Prepared, text: str, last: Delta | None, said: str) -> None:
        """`text` as the client saw it; `said`, the model's own words (without the micromodel
        answers and the source list, which are kept as data)."""
        turn = prepared.turn
        if turn.memory_key:
            exchange = [{"role": "user", "content": prepared.question}]
            self.memory.append(turn.memory_key, [*exchange, {"role": "assistant", "content": text}])
        complete = last is None or last.finish_reason in ("stop", "length")
        key, cache = prepared.cache_key, self.cache
        if key and cache and not prepared.cached and complete and prepared.cacheable:
            # The versions it came from; an entry of other versions is never served, as
            # its key names the model's (and for "fleet", every micromodel's) version.
            answer = {
                "text": text,
                "sources": prepared.sources,
                "from": prepared.route.version,
                "trace": prepared.fleet_trace,
            }
            cache.store(key, self._vector(prepared), answer)
        if prepared.trace:
            attributes = {"cached": prepared.cached or "", "sources": len(prepared.sources)}
            self.tracer.write(prepared.trace, text, attributes)
        if self.answers is not None:  # kept so that people can rate it
            self._record(prepared, said)

    def _record(self, prepared: Prepared, text: str) -> None:
        assert self.answers is not None
        turn = prepared.turn
        answer = AnswerRecord(
            prepared.response_id,
            turn.model,
            prepared.question,
            text,
            prepared.sources,
            prepared.fleet_trace,
            turn.session,
            turn.tenant,
        )
        try:
            self.answers.record(answer)
        except Exception as exc:  # the answer was given; only its rating is lost
            log.warning("answer %s not recorded for feedback: %s", answer.id, first_line(exc))

    def close(self) -> None:
        self.memory.close()
        if self.answers is not None:
            self.answers.close()
        if self.cache is not None:
            self.cache.index.close()


def _merge(scope: SearchFilter | None, asked: SearchFilter | None) -> SearchFilter | None:
    if scope is None or scope.is_empty():
        return asked
    if asked is None or asked.is_empty():
        return scope
    return SearchFilter(
        since=asked.since or scope.since,
        symbols=asked.symbols or scope.symbols,
        tags=asked.tags or scope.tags,
        doc_ids=asked.doc_ids or scope.doc_ids,
    )

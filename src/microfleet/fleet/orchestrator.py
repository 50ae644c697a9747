"""The orchestrator: micromodels as functions. Route -> dispatch (concurrently) -> compose.

Each tool call is an event on an in-process async dispatcher: its handler asks the micromodel
(its system prompt, the call's question, context retrieved within its scope) on its adapter.
Calls of a round run concurrently, so the local engine batches them across adapters in one
forward pass. A call that fails or times out comes back as an error result, and the answer
says which part is missing. The composed answer cites the sources the micromodels used.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from microfleet.errors import first_line
from microfleet.fleet.router import Plan, Router, ToolCall
from microfleet.fleet.spec import FleetSpec, MicromodelSpec
from microfleet.inference.rag import source_entry
from microfleet.knowledge.search import KnowledgeSearch
from microfleet.llm.generator import Generator, Messages
from microfleet.training.teacher import build_messages

FLEET_MODEL = "fleet"
COMPOSE_PROMPT = (
    "You are {description} Answer the user's question using the micromodel results below, "
    "which are correct. Reason over them, keep their figures, cite sources like [1], and say "
    "plainly which parts are missing when a result is an error."
)


@dataclass
class CallResult:
    call: ToolCall
    adapter: str
    output: str | None = None
    error: str | None = None
    latency_ms: float = 0.0
    sources: list[dict[str, Any]] = field(default_factory=list)

    def as_trace(self) -> dict[str, Any]:
        return {
            **self.call.as_dict(),
            "adapter": self.adapter,
            "latency_ms": round(self.latency_ms, 1),
            "output": self.output,
            "error": self.error,
            "sources": [s["index"] for s in self.sources],
        }

    def label(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.call.arguments.items() if k != "question")
        return f"{self.call.name}({shown})" if shown else self.call.name


@dataclass
class FleetOptions:
    call_timeout_s: float = 60.0
    call_max_tokens: int = 48
    k: int = 2
    min_similarity: float = 0.3


@dataclass
class Orchestration:
    """What the tools produced: the compose prompt, its sources, and the trace."""

    results: list[CallResult]
    plan: Plan
    sources: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def trace(self, router: str) -> dict[str, Any]:
        return {
            "router": router,
            "scores": self.plan.scores,
            "calls": [r.as_trace() for r in self.results],
            "dropped": self.plan.dropped,
            "notes": self.notes,
        }

    def results_block(self) -> str:
        """Every micromodel answer, one line each, with the global source numbers."""
        lines = []
        for r in self.results:
            cites = "".join(f" [{s['index']}]" for s in r.sources)
            lines.append(
                f"- {r.label()}: {r.output}{cites}"
                if r.output
                else f"- {r.label()}: missing ({r.error})"
            )
        return "\n".join(lines)


class Orchestrator:
    def __init__(
        self,
        fleet: FleetSpec,
        router: Router,
        generators: dict[str, Generator],
        fallback: Generator,
        search: KnowledgeSearch,
        options: FleetOptions,
    ) -> None:
        self.fleet, self.router, self.generators = fleet, router, generators
        self.fallback, self.search, self.options = fallback, search, options

    def missing_adapters(self) -> list[str]:
        return [s.name for s in self.fleet.micromodels if s.name not in self.generators]

    async def run(self, question: str) -> Orchestration:
        plan = await self.router.plan(question)
        # Retrieval for every call first (one embedding batch), then every generation at once:
        # the engine sees them together and batches them across adapters.
        contexts = await asyncio.to_thread(self._retrieve_all, plan.calls)
        results = await asyncio.gather(
            *[self._dispatch(call, hits) for call, hits in zip(plan.calls, contexts, strict=True)]
        )
        done = Orchestration(list(results), plan)
        self._number_sources(done)
        if not plan.calls:
            done.notes.append("no micromodel fits this question: answered from retrieval alone")
        for name in sorted({r.call.name for r in results if r.adapter != r.call.name}):
            done.notes.append(f"{name}: no adapter in the registry; the base model answered")
        done.notes += [f"dropped {d['name']}: {d['error']}" for d in plan.dropped]
        return done

    def _retrieve_all(self, calls: list[ToolCall]) -> list[list[Any]]:
        if not calls:
            return []
        questions = [self.fleet.get(c.name).question_for(c.arguments) for c in calls]
        vectors = self.search.embedder.embed(questions).tolist()
        o = self.options
        return [
            self.search.relevant(
                q, v, o.k, o.min_similarity, self.fleet.get(c.name).scope.as_filter()
            )
            for c, q, v in zip(calls, questions, vectors, strict=True)
        ]

    async def _dispatch(self, call: ToolCall, hits: list[Any]) -> CallResult:
        spec = self.fleet.get(call.name)
        generator = self.generators.get(call.name, self.fallback)
        result = CallResult(call, call.name if call.name in self.generators else "base")
        started = time.perf_counter()
        try:
            output = await asyncio.wait_for(
                self._answer(spec, call, generator, hits), self.options.call_timeout_s
            )
            result.output = _with_disclaimer(output, spec)
            result.sources = [source_entry(i, h) for i, h in enumerate(hits, 1)]
        except TimeoutError:
            result.error = f"timed out after {self.options.call_timeout_s:g} s"
        except Exception as exc:  # one failed call is one missing part, not a failed answer
            result.error = first_line(exc)
        result.latency_ms = (time.perf_counter() - started) * 1000
        return result

    async def _answer(
        self, spec: MicromodelSpec, call: ToolCall, generator: Generator, hits: list[Any]
    ) -> str:
        context = "\n".join(f"[{i}] {h.title}: {h.text}" for i, h in enumerate(hits, 1))
        messages = build_messages(spec.system_prompt, spec.question_for(call.arguments), context)
        reply = await generator.generate(messages, self.options.call_max_tokens, 0.0)
        return reply.text

    @staticmethod
    def _number_sources(done: Orchestration) -> None:
        """One numbering for the whole answer; the same chunk keeps one number."""
        seen: dict[str, dict[str, Any]] = {}
        for result in done.results:
            numbered = []
            for source in result.sources:
                if source["chunk_id"] not in seen:
                    seen[source["chunk_id"]] = {**source, "index": len(seen) + 1}
                    done.sources.append(seen[source["chunk_id"]])
                numbered.append(seen[source["chunk_id"]])
            result.sources = numbered

    def compose_messages(self, question: str, done: Orchestration, history: Messages) -> Messages:
        system = COMPOSE_PROMPT.format(description=self.fleet.description or "an assistant.")
        user = f"Micromodel results:\n{done.results_block()}\n\nQuestion: {question}"
        return [{"role": "system", "content": system}, *history, {"role": "user", "content": user}]


def _with_disclaimer(text: str, spec: MicromodelSpec) -> str:
    if spec.disclaimer and spec.disclaimer not in text:
        return f"{text} {spec.disclaimer}".strip()
    return text

"""What a round of micromodel calls produced, and how a router that reads it sees it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from microfleet.core.hits import cites
from microfleet.fleet.compose import Fact, numeric_fields
from microfleet.fleet.router import Plan, ToolCall
from microfleet.llm.generator import Messages
from microfleet.micromodel.spec import MicromodelSpec


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
            cites=cites(self.sources),
            error=self.error,
        )

    def content(self) -> str:
        """The `tool` message: the answer with its source numbers, or what went wrong."""
        if self.output is None:
            return f"missing ({self.error})"
        return self.output + cites(self.sources)


@dataclass
class FleetOptions:
    call_timeout_s: float = 60.0
    call_max_tokens: int = 48
    quote_k: int = 5  # chunks a call answered by its sources' sentences reads (the reader)


@dataclass
class Orchestration:
    """What the tools produced: the compose prompt, its sources, and the trace."""

    results: list[CallResult]
    plan: Plan
    sources: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rounds: int = 0
    # What the knowledge base says about what the question asks beyond the typed results,
    # with its source numbers (fleet/coverage.py); it follows the answer read off them.
    beyond: str | None = None

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

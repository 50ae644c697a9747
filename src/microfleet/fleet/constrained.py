"""Tool calls from the local model by JSON-schema-constrained decoding (outlines).

The output is forced into {"calls": [{"name": <tool>, "arguments": <its parameters>}, ...]}, so
even the 135M base model emits calls that parse and match a schema; whether it picks the right
ones is another matter (see bench/fleet.py), which is why `hybrid` lets the semantic router
shortlist the tools first. Decoding runs on the engine thread, between generation batches.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from microfleet.fleet.router import Plan, Router, SemanticRouter, admit
from microfleet.fleet.spec import FleetSpec, MicromodelSpec
from microfleet.llm.local import BatchingEngine

MAX_STRING = 160  # characters in a free-text argument
PROMPT = "Choose the tools to call for the user's question, with their arguments. Tools:\n{tools}"


def calls_schema(specs: list[MicromodelSpec]) -> dict[str, Any]:
    variants = [
        {
            "type": "object",
            "properties": {"name": {"const": spec.name}, "arguments": bounded(spec.parameters)},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for spec in specs
    ]
    # No maxItems: a bounded repetition compiles into a far larger automaton than `*`;
    # max_new_tokens bounds the list instead.
    calls = {"type": "array", "items": {"anyOf": variants}}
    return {
        "type": "object",
        "properties": {"calls": calls},
        "required": ["calls"],
        "additionalProperties": False,
    }


def bounded(schema: Any, max_length: int = MAX_STRING) -> Any:
    """The schema with a length cap on free strings, so decoding cannot run on inside one."""
    if isinstance(schema, list):
        return [bounded(item, max_length) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: bounded(value, max_length) for key, value in schema.items()}
    if out.get("type") == "string" and "enum" not in out and "const" not in out:
        out.setdefault("maxLength", max_length)
    return out


class ConstrainedRouter(Router):
    """`llm` on the local model; `hybrid` when a semantic router shortlists the tools."""

    def __init__(
        self,
        fleet: FleetSpec,
        engine: BatchingEngine,
        shortlist: SemanticRouter | None = None,
        max_new_tokens: int = 384,
    ) -> None:
        self.fleet, self.engine, self.shortlist = fleet, engine, shortlist
        self.max_new_tokens = max_new_tokens
        self.name = "hybrid" if shortlist else "llm"
        self._generators: dict[tuple[str, ...], Any] = {}

    async def plan(self, question: str) -> Plan:
        plan = Plan()
        specs = list(self.fleet.micromodels)
        if self.shortlist is not None:
            scores = await asyncio.to_thread(self.shortlist.scores, question)
            plan.scores = {k: round(v, 4) for k, v in scores.items()}
            keep = set(self.shortlist.select(scores))
            specs = [s for s in specs if s.name in keep]
            if not specs:
                return plan
        future = self.engine.call(lambda model, tok: self._decode(model, tok, specs, question))
        raw = await asyncio.wrap_future(future)
        try:
            calls = json.loads(raw).get("calls", [])
        except (json.JSONDecodeError, AttributeError):
            calls = []
            plan.dropped.append({"name": "?", "arguments": raw, "error": "not JSON"})
        for call in calls:
            admit(plan, self.fleet, call.get("name", "?"), call.get("arguments"))
        return plan

    def _decode(self, model: Any, tokenizer: Any, specs: list[MicromodelSpec], q: str) -> str:
        import contextlib

        key = tuple(spec.name for spec in specs)
        if key not in self._generators:
            import outlines
            from outlines.types import JsonSchema

            wrapped = outlines.from_transformers(model, tokenizer)
            self._generators[key] = outlines.Generator(
                wrapped, JsonSchema(json.dumps(calls_schema(specs)))
            )
        tools = "\n".join(
            f"- {s.name}{json.dumps(s.parameters.get('properties', {}))}: {s.description}"
            for s in specs
        )
        messages = [
            {"role": "system", "content": PROMPT.format(tools=tools)},
            {"role": "user", "content": q},
        ]
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        base = (
            model.disable_adapter() if hasattr(model, "peft_config") else contextlib.nullcontext()
        )
        with base:
            return str(self._generators[key](prompt, max_new_tokens=self.max_new_tokens))

"""Tool calls from the local model by JSON-schema-constrained decoding (outlines).

The output is forced into {"calls": [{"name": <tool>, "arguments": <its parameters>}, ...]}, so
even the 135M base model emits calls that parse and match a schema; whether it picks the right
ones is another matter (see bench/fleet.py), which is why `hybrid` lets the semantic router
shortlist the tools first. Decoding runs as a guided row of the engine's batches.
The same decoder answers clients that send their own OpenAI `tools` to the local model.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from microfleet.fleet.router import Plan, Router, SemanticRouter, admit, mentioned
from microfleet.knowledge.embedding import Embedder
from microfleet.llm.generator import Generator, Messages, text_only
from microfleet.llm.guided import bounded
from microfleet.llm.local import BatchingEngine, LocalGenerator
from microfleet.micromodel.spec import FleetSpec

MAX_ARGUMENT_ITEMS = 8  # items in an array argument (a list of symbols, say)
PROMPT = "Choose the tools to call for the user's question, with their arguments. Tools:\n{tools}"


def _function(tool: dict[str, Any]) -> dict[str, Any]:
    return tool.get("function", tool)


def calls_schema(tools: list[dict[str, Any]], required: bool = False) -> dict[str, Any]:
    """{"calls": [...]} where each call is one of `tools` (OpenAI format) with valid arguments;
    `required`: at least one call."""
    variants = []
    for tool in tools:
        function = _function(tool)
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        variants.append(
            {
                "type": "object",
                "properties": {
                    "name": {"const": function["name"]},
                    "arguments": bounded(parameters, max_items=MAX_ARGUMENT_ITEMS),
                },
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    # No maxItems: a bounded repetition compiles into a far larger automaton than `*`;
    # max_new_tokens bounds the list instead.
    calls: dict[str, Any] = {"type": "array", "items": {"anyOf": variants}}
    if required:
        calls["minItems"] = 1
    return {
        "type": "object",
        "properties": {"calls": calls},
        "required": ["calls"],
        "additionalProperties": False,
    }


def tools_prompt(tools: list[dict[str, Any]]) -> str:
    lines = []
    for tool in tools:
        function = _function(tool)
        properties = (function.get("parameters") or {}).get("properties", {})
        lines.append(
            f"- {function['name']}{json.dumps(properties)}: {function.get('description', '')}"
        )
    return PROMPT.format(tools="\n".join(lines))


def complete_calls(raw: str) -> list[Any]:
    """The calls that were decoded in full before the output was cut off."""
    start = raw.find("[")
    decoder, calls = json.JSONDecoder(), []
    index = start + 1 if start >= 0 else len(raw)
    while index < len(raw):
        while index < len(raw) and raw[index] in " \n\t,":
            index += 1
        try:
            item, index = decoder.raw_decode(raw, index)
        except json.JSONDecodeError:
            break
        calls.append(item)
    return calls


class ToolDecoder:
    """Constrained tool calls on the base model, decoded as one more row of the engine's
    batches (so a plain request never waits behind them)."""

    def __init__(self, engine: BatchingEngine, max_new_tokens: int = 768) -> None:
        self.generator = LocalGenerator(engine, "tools")
        self.max_new_tokens = max_new_tokens

    async def calls(
        self,
        tools: list[dict[str, Any]],
        messages: Messages,
        required: bool = False,
        most: int | None = None,
        model: Generator | None = None,
    ) -> Any:
        """The decoded {"calls": [...]} (`required`: at least one), each call once: decoding
        stops once `most` calls are complete, or when a call repeats an earlier one (a small
        model may repeat a call until the token limit); when the token limit cut the list,
        its complete calls and `"truncated": true`. `model`: the local model that decodes
        (a micromodel's adapter knows its facts); by default the base model."""
        prompt = [{"role": "system", "content": tools_prompt(tools)}, *text_only(messages)]
        schema = calls_schema(tools, required)
        decoder = model if isinstance(model, LocalGenerator) else self.generator
        stream = decoder.stream(prompt, self.max_new_tokens, 0.0, schema)
        text, calls, finish = "", [], None
        async with contextlib.aclosing(stream) as deltas:  # type: ignore[type-var]
            async for delta in deltas:
                text, finish = text + delta.text, delta.finish_reason
                calls = complete_calls(text)
                if repeats(calls) or (most is not None and len(calls) >= most):
                    return {"calls": unique(calls)[:most]}
        try:
            if finish != "length":
                return {"calls": unique(json.loads(text)["calls"])}
        except (json.JSONDecodeError, KeyError, TypeError):
            pass
        return {"calls": unique(calls), "truncated": True}


def asked_for(calls: list[Any], tools: list[dict[str, Any]], question: str) -> list[Any]:
    """The calls whose enum arguments the question names, where it names any: asked about
    London, a call for Paris is dropped (a small model may call every value it was shown).
    Should none be left, all of them."""
    enums: dict[tuple[str, str], list[Any]] = {}
    for tool in tools:
        function = _function(tool)
        for name, prop in ((function.get("parameters") or {}).get("properties") or {}).items():
            if isinstance(prop, dict) and isinstance(prop.get("enum"), list):
                enums[(function["name"], name)] = mentioned(prop["enum"], question)

    def named(call: Any) -> bool:
        arguments = call.get("arguments") if isinstance(call, dict) else None
        for key, value in (arguments if isinstance(arguments, dict) else {}).items():
            said = enums.get((call["name"], key))
            if said and str(value) not in said:
                return False
        return True

    return [call for call in calls if named(call)] or calls


RELEVANCE_MARGIN = 0.2  # a called tool this far below the question's best-matching one is dropped


def relevant(
    calls: list[Any], tools: list[dict[str, Any]], question: str, embedder: Embedder
) -> list[Any]:
    """The calls to tools the question is about: each called tool's name and description is
    compared with the question in MiniLM space, and calls to a tool more than
    RELEVANCE_MARGIN below the best one are dropped (a small model also calls tools the
    question never asked for). One tool called, or none described: all of them."""
    described = {
        _function(t)["name"]: f"{_function(t)['name']}: {_function(t).get('description', '')}"
        for t in tools
        if _function(t).get("description")
    }
    called = sorted({c.get("name") for c in calls if c.get("name") in described})
    if len(called) < 2 or not question:
        return calls
    vectors = embedder.embed([question, *(described[name] for name in called)])
    scores = dict(zip(called, (vectors[1:] @ vectors[0]).tolist(), strict=True))
    best = max(scores.values())
    return [c for c in calls if scores.get(c.get("name"), best) >= best - RELEVANCE_MARGIN]


def unique(calls: list[Any]) -> list[Any]:
    """`calls` without repeats, in their order."""
    seen: dict[str, Any] = {}
    for call in calls:
        seen.setdefault(json.dumps(call, sort_keys=True), call)
    return list(seen.values())


def repeats(calls: list[Any]) -> bool:
    """Whether the last call repeats an earlier one."""
    return len(calls) > 1 and len(unique(calls)) < len(calls)


class ConstrainedRouter(Router):
    """`llm` on the local model; `hybrid` when a semantic router shortlists the tools."""

    # A 135M model rarely stops calling tools once it sees results, so it does not follow up;
    # an invalid call (only where outlines cannot enforce a schema keyword) is fed back once.
    takes_feedback = True

    def __init__(
        self, fleet: FleetSpec, engine: BatchingEngine, shortlist: SemanticRouter | None = None
    ) -> None:
        self.fleet, self.decoder, self.shortlist = fleet, ToolDecoder(engine), shortlist
        self.name = "hybrid" if shortlist else "llm"

    async def plan(self, question: str, transcript: Messages | None = None) -> Plan:
        plan = Plan()
        specs = list(self.fleet.micromodels)
        if self.shortlist is not None:
            scores = await asyncio.to_thread(self.shortlist.scores, question)
            plan.scores = {k: round(v, 4) for k, v in scores.items()}
            keep = set(self.shortlist.select(scores))
            specs = [s for s in specs if s.name in keep]
            if not specs:
                return plan
        tools = [spec.as_tool() for spec in specs]
        asked = [{"role": "user", "content": question}, *(transcript or [])]
        decoded = await self.decoder.calls(tools, asked)
        if decoded.get("truncated"):
            error = "the call list was cut at the token limit; the complete calls were kept"
            plan.dropped.append({"name": "?", "arguments": None, "error": error})
        for call in decoded.get("calls", []):
            admit(plan, self.fleet, call.get("name", "?"), call.get("arguments"))
        return plan

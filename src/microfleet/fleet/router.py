"""Routing: which micromodels a question needs, and with which arguments (the tool calls).

Router seam. SemanticRouter (the default, and the fast path for weak local models) compares the
question with each micromodel's description and examples in MiniLM space, with enum values
masked by their parameter's name on both sides, keeps those above a calibrated threshold, and
fills the arguments from the question with the parameter schema.
ToolCallingRouter asks an OpenAI-compatible model with native `tools` (parallel calls included).
Routers that read the transcript of earlier rounds get their invalid calls back once to correct,
and a router that `follows_up` sees the results and may call more (the orchestrator caps rounds).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from jsonschema import Draft202012Validator

from microfleet.fleet.asked import read_question
from microfleet.knowledge.embedding import Embedder
from microfleet.llm.generator import Messages
from microfleet.micromodel.questions import example_questions
from microfleet.micromodel.spec import FillSpec, FleetSpec, MicromodelSpec


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str = field(default_factory=lambda: f"call_{uuid.uuid4().hex[:16]}")

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass
class Plan:
    calls: list[ToolCall] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)  # invalid calls, with the reason
    scores: dict[str, float] = field(default_factory=dict)


class Router(ABC):
    name: str
    takes_feedback = False  # reads `transcript`: an invalid call can come back corrected
    follows_up = False  # after seeing results, may ask for more calls

    @abstractmethod
    async def plan(self, question: str, transcript: Messages | None = None) -> Plan:
        """The tool calls for `question`, given the earlier rounds (an assistant turn with
        `tool_calls`, then `tool` results); invalid calls go to `dropped`, never to dispatch."""


def validate(fleet: FleetSpec, name: str, arguments: Any) -> str | None:
    """None if `name(arguments)` is a valid call, else why not (one line)."""
    if name not in {s.name for s in fleet.micromodels}:
        return f"unknown micromodel '{name}'"
    if not isinstance(arguments, dict):
        return "arguments must be a JSON object"
    errors = sorted(
        Draft202012Validator(fleet.get(name).parameters).iter_errors(arguments), key=str
    )
    if errors:
        where = ".".join(str(p) for p in errors[0].absolute_path) or "arguments"
        return f"{where}: {errors[0].message}"
    return None


def fill_arguments(spec: MicromodelSpec, question: str) -> list[dict[str, Any]]:
    """Arguments from the question, as the spec's `fill` says: the enum values it names
    (aliases included; every value when it asks about all of them, or names some only to
    measure all of them against: "lower than France", "above the average"), the values a pattern
    finds for string arrays, the question itself for strings. A scalar enum parameter that
    names several values fans out into one call per value."""
    base: dict[str, Any] = {}
    fan: tuple[str, list[str]] | None = None
    for name, prop in spec.parameters.get("properties", {}).items():
        fill = spec.fill.get(name) or FillSpec()
        if "enum" in prop:
            every = [str(v) for v in prop["enum"]]
            named = as_values(question, fill.aliases)  # "the German rate": Germany's
            values = mentioned(every, named)
            if fill.asks_every(question) and (not values or measures_against(named, every)):
                values = every
            if values:
                fan = (name, values)
        elif prop.get("type") == "string":
            base[name] = question
        elif prop.get("type") == "array" and prop.get("items", {}).get("type") == "string":
            found = fill.matches(question)
            if found:
                base[name] = found
    if fan is None:
        return [base]
    return [{**base, fan[0]: value} for value in fan[1]]


def measures_against(question: str, values: list[str]) -> bool:
    """Whether the question names values to measure the others against, not to ask about
    them alone: a bound set by a value, a statistic over all of them, "the others", or one
    value against an end ("Is Hungary's rate the highest in the EU?")."""
    asked = read_question(question, values)
    by_value = any(isinstance(b.value, str) for b in asked.bounds)
    one_at_an_end = len(asked.named) == 1 and bool(asked.ends)
    return by_value or asked.others or one_at_an_end or bool({"mean", "median"} & set(asked.stats))


def as_values(question: str, aliases: dict[str, str | list[str]]) -> str:
    """The question with each alias written as the value it stands for, or the values of the
    group it names ("the Baltic states": "the Estonia, Latvia, Lithuania states")."""
    for other in sorted(aliases, key=len, reverse=True):
        value = aliases[other]
        values = value if isinstance(value, str) else ", ".join(value)
        question = re.sub(rf"\b{re.escape(other)}\b", values, question, flags=re.I)
    return question


def mentioned(values: list[Any], question: str) -> list[str]:
    """Enum values the question names, in the enum's order (aliases: `as_values` first)."""
    text = question.lower()
    return [str(v) for v in values if re.search(rf"\b{re.escape(str(v).lower())}\b", text)]


def value_masks(fleet: FleetSpec) -> list[tuple[re.Pattern[str], str]]:
    """For each enum parameter of the fleet: a pattern of its values and their aliases, and
    the parameter's name to put in their place."""
    masks = []
    for spec in fleet.micromodels:
        for name, prop in spec.parameters.get("properties", {}).items():
            if "enum" in prop:
                fill = spec.fill.get(name) or FillSpec()
                values = sorted({str(v) for v in prop["enum"]} | set(fill.aliases), key=len)
                alternatives = "|".join(re.escape(v) for v in reversed(values))
                masks.append((re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE), name))
    return masks


class SemanticRouter(Router):
    name = "semantic"

    def __init__(self, fleet: FleetSpec, embedder: Embedder, threshold: float, margin: float):
        self.fleet, self.embedder = fleet, embedder
        self.threshold, self.margin = threshold, margin
        self._owners: list[str] = []
        self._masks = value_masks(fleet)
        texts: list[str] = []
        for spec in fleet.micromodels:
            for text in [spec.description, *spec.examples, *example_questions(spec, fleet)]:
                texts.append(self.masked(text))
                self._owners.append(spec.name)
        self._vectors = np.asarray(embedder.embed(texts))

    def masked(self, text: str) -> str:
        """`text` with each enum value named by its parameter ("the VAT rate in country"),
        so that naming a value ("What is the capital of France?") is not half a match."""
        for pattern, name in self._masks:
            text = pattern.sub(name, text)
        return text

    def scores(self, question: str) -> dict[str, float]:
        similarity = self._vectors @ np.asarray(self.embedder.embed([self.masked(question)]))[0]
        best: dict[str, float] = {}
        for owner, value in zip(self._owners, similarity.tolist(), strict=True):
            best[owner] = max(best.get(owner, -1.0), float(value))
        return best

    def select(self, scores: dict[str, float]) -> list[str]:
        top = max(scores.values(), default=0.0)
        return [n for n, s in scores.items() if s >= self.threshold and s >= top - self.margin]

    async def plan(self, question: str, transcript: Messages | None = None) -> Plan:
        scores = await asyncio.to_thread(self.scores, question)
        plan = Plan(scores={k: round(v, 4) for k, v in scores.items()})
        for name in self.select(scores):
            for arguments in fill_arguments(self.fleet.get(name), question):
                admit(plan, self.fleet, name, arguments)
        return plan


def admit(
    plan: Plan, fleet: FleetSpec, name: str, arguments: Any, call_id: str | None = None
) -> None:
    error = validate(fleet, name, arguments)
    call = ToolCall(name, arguments, call_id) if call_id else ToolCall(name, arguments)
    if error is None:
        plan.calls.append(call)
    else:
        plan.dropped.append({"id": call.id, "name": name, "arguments": arguments, "error": error})


class ToolCallingRouter(Router):
    """Native tool calling on an OpenAI-compatible model (GPT-4 class, vLLM with a tool parser)."""

    name = "llm"
    takes_feedback = follows_up = True

    def __init__(self, fleet: FleetSpec, client: Any, model: str) -> None:
        self.fleet, self.client, self.model = fleet, client, model

    async def plan(self, question: str, transcript: Messages | None = None) -> Plan:
        system = (
            f"{self.fleet.description} Call the tools the question needs. Once the tool "
            "results answer it, call none."
        )
        response = await self.client.chat.completions.create(
            model=self.model,
            messages=[
                {"role": "system", "content": system},
                {"role": "user", "content": question},
                *(transcript or []),
            ],
            tools=[spec.as_tool() for spec in self.fleet.micromodels],
            tool_choice="auto",
            parallel_tool_calls=True,
        )
        plan = Plan()
        for call in response.choices[0].message.tool_calls or []:
            try:
                arguments = json.loads(call.function.arguments or "{}")
            except json.JSONDecodeError:
                arguments = call.function.arguments
            admit(plan, self.fleet, call.function.name, arguments, call.id)
        return plan

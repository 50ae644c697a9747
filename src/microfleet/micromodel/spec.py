"""A fleet is a YAML file of micromodel specs, validated by pydantic."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from microfleet.core.hits import SearchFilter
from microfleet.errors import UserError
from microfleet.micromodel.documents import DocumentsSpec

FLEET_MODEL = "fleet"  # the served model id that answers with the whole fleet


class UnknownMicromodel(UserError):
    pass


class LoraSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    r: int = Field(default=8, ge=1)
    alpha: int = Field(default=16, ge=1)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"])
    epochs: int = Field(default=2, ge=1)
    learning_rate: float = Field(default=5e-4, gt=0)
    batch_size: int = Field(default=4, ge=1)
    max_length: int = Field(default=384, ge=32)
    schedule: Literal["constant", "linear"] = Field(
        default="linear",
        description="The learning rate after a 5% warm-up: constant, or decaying linearly to 0.",
    )
    bf16: bool = Field(
        default=False, description="Train with bfloat16 matmuls on the CPU (about 2x faster)."
    )
    context_dropout: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share of training pairs seen without their retrieved context, so the "
        "adapter knows its facts when retrieval misses (chosen per question, repeatably).",
    )
    qlora: bool = Field(default=True, description="4-bit QLoRA when CUDA is present.")


class ScopeSpec(BaseModel):
    """Where in the knowledge base this micromodel looks (any of each list)."""

    model_config = ConfigDict(extra="forbid")

    tags: list[str] = Field(default_factory=list)
    symbols: list[str] = Field(default_factory=list)
    doc_ids: list[str] = Field(default_factory=list)

    def as_filter(self) -> SearchFilter:
        return SearchFilter(
            symbols=tuple(self.symbols), tags=tuple(self.tags), doc_ids=tuple(self.doc_ids)
        )


class DataSpec(BaseModel):
    """Data-driven pairs: every row of `table` times every question template, answered exactly."""

    model_config = ConfigDict(extra="forbid")

    table: str
    questions: list[str] = Field(min_length=1)
    answer: str


class FillSpec(BaseModel):
    """How the semantic router reads one parameter's value from a question. Routing only:
    the tool's JSON schema is what a model sees, unchanged."""

    model_config = ConfigDict(extra="forbid")

    every: list[str] = Field(
        default_factory=list,
        description="Regular expressions (any case) meaning 'every value of the enum', "
        "e.g. 'across (the )?Europe'.",
    )
    aliases: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Other names of enum values: {other name: value}, or {name of a group: "
        "[values]} ('Baltic': [Estonia, Latvia, Lithuania]).",
    )
    pattern: str | None = Field(
        default=None,
        description="For an array of strings: a regular expression whose matches (the first "
        "group that matched, else the whole match) are the values.",
    )
    exclude: list[str] = Field(default_factory=list, description="Matches that are not values.")

    @field_validator("every")
    @classmethod
    def _expressions(cls, value: list[str]) -> list[str]:
        for expression in value:
            _compiled(expression)
        return value

    @field_validator("pattern")
    @classmethod
    def _expression(cls, value: str | None) -> str | None:
        return value if value is None else _compiled(value).pattern

    def asks_every(self, question: str) -> bool:
        return any(re.search(rf"\b(?:{e})\b", question, re.I) for e in self.every)

    def matches(self, question: str) -> list[str]:
        if self.pattern is None:
            return []
        found = [
            next((g for g in m.groups() if g), m.group(0))
            for m in re.finditer(self.pattern, question)
        ]
        return list(dict.fromkeys(v for v in found if v not in self.exclude))


def _compiled(expression: str) -> re.Pattern[str]:
    try:
        return re.compile(expression)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression '{expression}': {exc}") from None


class MicromodelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = Field(min_length=1)
    system_prompt: str = Field(min_length=1)
    parameters: dict[str, Any]
    scope: ScopeSpec = Field(default_factory=ScopeSpec)
    seed_questions: str | None = None
    variations: dict[str, list[str]] = Field(default_factory=dict)
    data: DataSpec | None = None
    metric: Literal["exact", "numeric", "rouge"] = "rouge"
    lora: LoraSpec = Field(default_factory=LoraSpec)
    query: str | None = Field(
        default=None,
        description="How a call's arguments become the micromodel's question, e.g. "
        "'What does {product} cost?'; default: its first data question.",
    )
    examples: list[str] = Field(
        default_factory=list, description="Questions it answers, for the semantic router."
    )
    disclaimer: str | None = Field(default=None, description="Appended to every answer.")
    context: bool = Field(
        default=True,
        description="Hand the micromodel its retrieved context when it is called; false: it "
        "answers from its weights (a fact specialist), and the retrieved sources are still cited.",
    )
    fill: dict[str, FillSpec] = Field(
        default_factory=dict,
        description="Per parameter: how the semantic router fills it from a question.",
    )
    returns: dict[str, Any] | None = Field(
        default=None,
        description="A JSON schema of type object: the micromodel answers with JSON under it "
        "(constrained decoding), and its data travels with the sentence.",
    )

    @field_validator("returns")
    @classmethod
    def _returns_object(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else _object_schema(value)

    @field_validator("parameters")
    @classmethod
    def _is_object_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _object_schema(value)

    @model_validator(mode="after")
    def _fills_parameters(self) -> MicromodelSpec:
        properties = self.parameters.get("properties", {})
        for name, fill in self.fill.items():
            if name not in properties:
                raise ValueError(f"fill: '{name}' is not one of the parameters")
            enum = [str(v) for v in properties[name].get("enum", [])]
            named = [[v] if isinstance(v, str) else v for v in fill.aliases.values()]
            wrong = [v for values in named for v in values if v not in enum]
            if wrong:
                raise ValueError(f"fill.{name}.aliases: '{wrong[0]}' is not one of its values")
        return self

    @property
    def quotable(self) -> bool:
        """Whether its sources' sentences can answer for it when it has no adapter: a prose
        micromodel (no `returns`) served with context (fleet/reader.py)."""
        return self.context and self.returns is None

    def result_schema(self, arguments: dict[str, Any]) -> dict[str, Any] | None:
        """`returns` for one call: a result field named like one of the call's scalar
        arguments is that argument (a `const`), so the answer is about what was asked."""
        if self.returns is None:
            return None
        properties = dict(self.returns.get("properties", {}))
        for name, value in arguments.items():
            if name in properties and isinstance(value, str | int | float | bool):
                properties[name] = {**properties[name], "const": value}
        return {**self.returns, "properties": properties}

    def say(self, result: dict[str, Any]) -> str:
        """The sentence for a typed result: the data answer template when its fields are
        there, else `key: value` pairs."""
        if self.data is not None:
            try:
                return self.data.answer.format_map({k: _plain(v) for k, v in result.items()})
            except (KeyError, IndexError, ValueError):
                pass
        return "; ".join(f"{k}: {_plain(v)}" for k, v in result.items())

    def registered_name(self) -> str:
        return f"micromodel-{self.name}"

    def as_tool(self) -> dict[str, Any]:
        """The OpenAI `tools` entry the orchestrator calls this micromodel by."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def question_for(self, arguments: dict[str, Any]) -> str:
        """The question a call asks, from its arguments."""
        template = self.query or (self.data.questions[0] if self.data else None)
        if template:
            try:
                return template.format_map(arguments)
            except (KeyError, IndexError, ValueError):
                pass
        values = [v if isinstance(v, str) else ", ".join(map(str, v)) for v in arguments.values()]
        return "; ".join(v for v in values if v)


def _object_schema(value: dict[str, Any]) -> dict[str, Any]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        raise ValueError(f"not a valid JSON schema: {exc.message}") from None
    if value.get("type") != "object":
        raise ValueError("must be a JSON schema of type 'object'")
    return value


def _plain(value: Any) -> Any:
    """19.0 as 19, so a rendered number reads as written."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class FleetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    micromodels: list[MicromodelSpec] = Field(min_length=1)
    adapters: str | None = Field(
        default=None,
        description="A directory of shipped adapters (`microfleet adapters export`), "
        "registered as champions on first use where a micromodel has no version yet.",
    )
    documents: DocumentsSpec = Field(
        default_factory=DocumentsSpec,
        description="How the feature pipeline reads this fleet's documents (title rules).",
    )
    glossary: dict[str, str] = Field(
        default_factory=dict,
        description="Short forms users write for what the documents spell out ({Fed: Federal "
        "Reserve}): a question is searched and read with the long form after the short one.",
    )
    root: Path = Field(default=Path("."), exclude=True)

    def get(self, name: str) -> MicromodelSpec:
        for spec in self.micromodels:
            if spec.name == name:
                return spec
        known = ", ".join(s.name for s in self.micromodels)
        raise UnknownMicromodel(f"unknown micromodel '{name}'; known: {known}")

    def path(self, relative: str) -> Path:
        """A file named in the spec, relative to the fleet's directory."""
        return self.root / relative


def load_fleet(path: Path) -> FleetSpec:
    """Read and validate a fleet file; errors name the file, the field and the reason."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(
            f"cannot read fleet file {path}: {exc.strerror}; set MICROFLEET_FLEET"
        ) from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping with 'name' and 'micromodels'")
    try:
        fleet = FleetSpec.model_validate({**raw, "root": path.parent})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UserError(f"{path}: {where}: {first['msg'].removeprefix('Value error, ')}") from None
    names = [s.name for s in fleet.micromodels]
    if len(set(names)) != len(names):
        raise UserError(f"{path}: micromodels: names must be unique")
    return fleet

"""The wire formats: OpenAI chat completions (the subset served, plus `sources`), search, ingest."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_MAX_TOKENS = 256


class WireModel(BaseModel):
    """A request body: text that cannot be written as UTF-8 (a lone surrogate such as
    \\ud800) is refused with the field that holds it, before anything reads it."""

    @model_validator(mode="before")
    @classmethod
    def _encodable(cls, data: Any) -> Any:
        _check_text(data, "")
        return data


def _check_text(value: Any, where: str) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where or 'body'}: not valid Unicode (a lone surrogate)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, where)
            _check_text(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_text(item, f"{where}[{i}]")


class FunctionSpec(BaseModel):
    """An OpenAI tool's function: a name, and its arguments' JSON schema."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    parameters: dict[str, Any] | None = None


class ToolSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["function"] = "function"
    function: FunctionSpec


class ContentPart(BaseModel):
    """One part of a message's content: text is read; other kinds (images) are refused."""

    model_config = ConfigDict(extra="ignore")

    type: str
    text: str = ""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """The content as one text (text parts joined by blank lines)."""
        if isinstance(self.content, list):
            return "\n\n".join(part.text for part in self.content if part.type == "text")
        return self.content or ""

    def as_turn(self, call: str | None = None) -> dict[str, str]:
        """What the assistant sees: a tool result reads as a user turn that carries it (and
        names `call`, the call it answers); a turn that only called tools says so."""
        if self.role == "tool":
            said = f"Result of {call or 'the tool call'}: {self.text()}"
            return {"role": "user", "content": said}
        if self.role == "assistant" and self.tool_calls and not self.text():
            made = "; ".join(filter(None, map(call_text, self.tool_calls)))
            return {"role": "assistant", "content": f"I called {made}."}
        return {"role": self.role, "content": self.text()}

    def refusal(self, where: str) -> str | None:
        for part in self.content if isinstance(self.content, list) else []:
            if part.type != "text":
                return f"{where}: {part.type} content parts are not supported; send text parts"
        return None


def call_text(call: Any) -> str:
    """An OpenAI tool call as `name({arguments})` ('' for what is not a call)."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        return ""
    return f"{function.get('name', '?')}({function.get('arguments') or '{}'})"


class JsonSchemaFormat(BaseModel):
    name: str = Field(default="response", max_length=64)
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None
    description: str | None = None


class ResponseFormat(BaseModel):
    """OpenAI's `response_format`: prose, any JSON object, or JSON under a schema."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("type json_schema needs a `json_schema` with its `schema`")
        return self

    def schema(self) -> dict[str, Any] | None:  # type: ignore[override]
        """The JSON schema the answer is decoded under (None: prose)."""
        if self.type == "json_object":
            return {"type": "object"}
        return self.json_schema.schema_ if self.json_schema else None


class StreamOptions(BaseModel):
    include_usage: bool = False


# OpenAI parameters not implemented here, with the values that ask nothing of the server (a
# client may always send those); any other value is refused with a 400 that names it.
NEUTRAL: dict[str, tuple[Any, ...]] = {
    "presence_penalty": (None, 0),
    "frequency_penalty": (None, 0),
    "logprobs": (None, False),
    "top_logprobs": (None, 0),
    "logit_bias": (None, {}),
    "functions": (None, []),
    "function_call": (None, "none", "auto"),
    "modalities": (None, ["text"]),
    "audio": (None,),
    "prediction": (None,),
}


MAX_CHOICES = 8  # `n`: the choices of one request decode in one batch


class ChatRequest(WireModel):
    """OpenAI's request; `rag`, `session_id`, `since`, `symbols` and `tags` are extensions.
    Parameters it does not implement are refused (`refusal`), never silently ignored."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage]
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int = Field(default=1, ge=1, le=MAX_CHOICES, description="Answers, sampled together.")
    temperature: float = Field(default=0.0, ge=0, le=2)
    top_p: float = Field(default=1.0, ge=0, le=1)
    seed: int | None = Field(default=None, description="Repeatable sampling (temperature > 0).")
    stop: str | list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None, description="Up to 4 strings; the answer ends before the first of them."
    )
    response_format: ResponseFormat | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, max_length=256)
    session_id: str | None = Field(default=None, max_length=256)
    rag: bool | None = None
    since: str | None = None
    symbols: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    tools: list[ToolSpec] | None = None
    tool_choice: Any = None

    parallel_tool_calls: bool = True

    def refusal(self) -> str | None:
        """Why this request asks for something the server does not do, in OpenAI's terms."""
        extra = self.model_extra or {}
        for key, neutral in NEUTRAL.items():
            if extra.get(key) not in neutral:
                return f"`{key}` is not supported by this server yet; leave it out"
        if self.tools and (reason := self._choice_refusal()):
            return reason
        if self.n > 1 and self.wants_tools():
            return "`n` above 1 is not supported with `tools`; leave one of them out"
        for i, message in enumerate(self.messages):
            if reason := message.refusal(f"messages[{i}].content"):
                return reason
        return None

    def _choice_refusal(self) -> str | None:
        choice = self.tool_choice
        if choice in (None, "auto", "none", "required"):
            return None
        name = self.chosen_tool()
        if name is None:
            return "`tool_choice` must be 'auto', 'none', 'required' or a named function"
        if name not in {tool.function.name for tool in self.tools or []}:
            return f"`tool_choice` names the function '{name}', which is not among `tools`"
        return None

    def chosen_tool(self) -> str | None:
        """The function `tool_choice` names ({"type": "function", "function": {"name": ...}})."""
        choice = self.tool_choice
        if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
            name = choice["function"].get("name")
            return name if isinstance(name, str) else None
        return None

    def wants_tools(self) -> bool:
        """Whether the model is to answer with tool calls: it has tools, and either the last
        message is not a tool result or `tool_choice` asks for more calls (after a result,
        `auto` answers from it, so an agent's loop ends)."""
        if not self.tools or self.tool_choice == "none":
            return False
        return not self.answers_results() or self.must_call()

    def answers_results(self) -> bool:
        """Whether the last message is a tool result (the answer is to come from it)."""
        return bool(self.messages) and self.messages[-1].role == "tool"

    def grounded(self, default: bool) -> bool:
        """Whether to retrieve from the knowledge base: `rag` if given; else the default,
        except after tool results (the client's tools supplied the facts)."""
        return self.rag if self.rag is not None else default and not self.answers_results()

    def turns(self) -> list[dict[str, str]]:
        """The messages as the assistant sees them (ChatMessage.as_turn). The results of one
        round of tool calls read as one user turn, each naming the call it answers; after the
        last round, the user's question is asked again, to be answered from them."""
        calls: dict[str, str] = {}
        turns: list[dict[str, str]] = []
        question = ""
        for message in self.messages:
            for call in message.tool_calls or []:
                if isinstance(call, dict) and isinstance(call.get("id"), str):
                    calls[call["id"]] = call_text(call)
            turn = message.as_turn(calls.get(message.tool_call_id or ""))
            if message.role == "user":
                question = turn["content"]
            if message.role == "tool" and turns and turns[-1]["content"].startswith("Result"):
                turns[-1]["content"] += "\n" + turn["content"]  # the same round
            else:
                turns.append(turn)
        if self.answers_results() and question:
            turns[-1]["content"] += f"\n\nFrom these results, answer: {question}"
        return turns

    def tool_dicts(self) -> list[dict[str, Any]]:
        """The tools the model may call: all of them, or the one `tool_choice` names."""
        chosen = self.chosen_tool()
        tools = [t for t in self.tools or [] if chosen is None or t.function.name == chosen]
        return [tool.model_dump(exclude_none=True) for tool in tools]

    def must_call(self) -> bool:
        """`tool_choice` "required" or a named function: at least one call."""
        return self.tool_choice == "required" or self.chosen_tool() is not None

    @field_validator("stop")
    @classmethod
    def _at_most_four(cls, stop: str | list[str] | None) -> str | list[str] | None:
        if isinstance(stop, list) and len(stop) > 4:
            raise ValueError("at most 4 stop strings")
        return stop

    def output_schema(self) -> dict[str, Any] | None:
        """The JSON schema `response_format` asks the answer to match (None: prose)."""
        return self.response_format.schema() if self.response_format else None

    def stops(self) -> tuple[str, ...]:
        """The stop strings (an empty string stops nothing)."""
        return tuple(
            s for s in ([self.stop] if isinstance(self.stop, str) else self.stop or []) if s
        )

    def limit(self, cap: int) -> int:
        return min(self.max_completion_tokens or self.max_tokens or DEFAULT_MAX_TOKENS, cap)


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, prompt: int, completion: int) -> Usage:
        return cls(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )


class Choice(BaseModel):
    index: int = 0
    message: ChatMessage
    finish_reason: str


class ChatResponse(BaseModel):
    id: str = Field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[Choice]
    usage: Usage
    sources: list[dict[str, Any]] = Field(default_factory=list)
    cached: str | None = None
    trace: dict[str, Any] | None = None  # model "fleet": the micromodels called, and how


class SearchRequest(WireModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1)
    k: int = Field(default=5, ge=1, le=100)
    mode: Literal["hybrid", "dense", "sparse"] = "hybrid"
    since: str | None = None
    symbols: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


class IngestRequest(WireModel):
    """Documents in the JSONL contract's shape (each one is validated by the feature pipeline)."""

    documents: list[dict[str, Any]] = Field(min_length=1)


class FeedbackRequest(WireModel):
    """A rating of one answer, by the `id` its chat completion carried."""

    model_config = ConfigDict(extra="forbid")

    response_id: str = Field(min_length=1, max_length=64)
    rating: Literal[1, -1] = Field(description="1: thumbs up; -1: thumbs down")
    correction: str | None = Field(default=None, max_length=8000, description="A better answer")
    comment: str | None = Field(default=None, max_length=2000)

"""The Generator seam: chat messages in, streamed text out.

Default: LocalGenerator (llm/local.py, transformers + PEFT on this machine). Scale-out:
OpenAIGenerator (llm/openai_backend.py, any OpenAI-compatible server: vLLM, LoRAX, llama.cpp).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

Messages = list[dict[str, Any]]  # OpenAI chat messages (an assistant turn may carry tool_calls)


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


@dataclass
class Delta:
    """One streamed piece; the last one carries `finish_reason` and the token counts."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


def text_only(messages: Messages) -> Messages:
    """For a chat template without tool roles: each run of `tool` results folds, with the calls
    they answer, into the user turn before them ("Tool results: ... Question: ...")."""
    out: Messages = []
    labels: dict[str, str] = {}
    results: list[str] = []
    for message in messages:
        if message["role"] == "tool":
            label = labels.get(message.get("tool_call_id") or "", "tool")
            results.append(f"- {label}: {message.get('content') or ''}")
            continue
        if results:
            _fold(out, results)
            results = []
        for call in message.get("tool_calls") or []:
            labels[call.get("id", "")] = _call_label(call.get("function", call))
        if message.get("content") or not message.get("tool_calls"):
            out.append({"role": message["role"], "content": message.get("content") or ""})
    if results:
        _fold(out, results)
    return out


def _fold(out: Messages, results: list[str]) -> None:
    block = "Tool results:\n" + "\n".join(results)
    if out and out[-1]["role"] == "user":
        out[-1] = {"role": "user", "content": f"{block}\n\nQuestion: {out[-1]['content']}"}
    else:
        out.append({"role": "user", "content": block})


def _call_label(function: dict[str, Any]) -> str:
    arguments = function.get("arguments") or {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return f"{function.get('name', 'tool')}({arguments[:60]})"
    shown = ", ".join(f"{k}={_short(v)}" for k, v in dict(arguments).items())
    return f"{function.get('name', 'tool')}({shown})"


def _short(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def stop_point(text: str, stops: Sequence[str]) -> tuple[int, bool]:
    """(how much of `text` may be shown, whether a stop string ends it there): up to the first
    stop string; else all but a tail that may be the start of one (held back until the next
    piece says)."""
    found = [at for stop in stops if (at := text.find(stop)) >= 0]
    if found:
        return min(found), True
    tails = [k for stop in stops for k in range(1, len(stop)) if text.endswith(stop[:k])]
    return len(text) - max(tails, default=0), False


class BackendUnavailable(Exception):
    """The generation backend cannot answer now (down, overloaded); the API answers 503."""


class Generator(ABC):
    """One abstract method; `name` is the model id a client asks for."""

    name: str
    parent: str | None = None  # the base model of an adapter

    @abstractmethod
    def stream(
        self,
        messages: Messages,
        max_tokens: int,
        temperature: float,
        schema: dict[str, Any] | None = None,
        stop: Sequence[str] = (),
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> AsyncIterator[Delta]:
        """Yield the answer as it is generated; closing the iterator cancels the generation.
        With `schema` (a JSON schema), the answer is JSON that matches it. The answer ends
        before the first of the `stop` strings, which is not shown (finish reason "stop").
        Sampling (temperature > 0) keeps to the `top_p` nucleus; a `seed` makes it repeatable."""

    async def generate(
        self,
        messages: Messages,
        max_tokens: int,
        temperature: float,
        schema: dict[str, Any] | None = None,
        stop: Sequence[str] = (),
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> Generation:
        parts: list[str] = []
        last = Delta("", "stop")
        deltas = self.stream(messages, max_tokens, temperature, schema, stop, top_p, seed)
        async for delta in deltas:
            parts.append(delta.text)
            last = delta
        return Generation(
            "".join(parts).strip(),
            last.prompt_tokens,
            last.completion_tokens,
            last.finish_reason or "stop",
        )

    async def ready(self) -> bool:
        """Whether the backend can take requests (for /readyz)."""
        return True

    def tokens_per_second(self) -> float | None:
        """One answer's measured decode rate, where the backend measures it (None: unknown);
        the server caps max_tokens to what its timeout allows at this rate."""
        return None

    async def close(self) -> None:
        """Release what the backend holds."""
        return None


def complete_chat(
    model: Any,
    tokenizer: Any,
    messages: Messages,
    max_tokens: int,
    temperature: float = 0.0,
) -> Generation:
    """One blocking generation: the chat template, greedy unless temperature > 0, new text only.

    Used by the local teacher and by evaluation; the server goes through the batching engine.
    """
    import torch

    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    ).to(model.device)
    with torch.no_grad():
        out = model.generate(
            **inputs,
            max_new_tokens=max_tokens,
            pad_token_id=tokenizer.pad_token_id,
            **sampling_args(temperature),
        )
    new = out[0][inputs["input_ids"].shape[1] :]
    finished = len(new) > 0 and int(new[-1]) == tokenizer.eos_token_id
    return Generation(
        text=str(tokenizer.decode(new, skip_special_tokens=True)).strip(),
        prompt_tokens=int(inputs["input_ids"].shape[1]),
        completion_tokens=len(new),
        finish_reason="stop" if finished or len(new) < max_tokens else "length",
    )


def sampling_args(temperature: float) -> dict[str, Any]:
    if temperature > 0:
        return {"do_sample": True, "temperature": temperature}
    return {"do_sample": False}

"""The Generator seam: chat messages in, text out; local transformers by default."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


class Generator(ABC):
    """One abstract method; `name` is the model id a client asks for."""

    name: str

    @abstractmethod
    async def generate(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float
    ) -> Generation:
        """Complete the chat without blocking the event loop."""


class LocalGenerator(Generator):
    """transformers on this machine; model work runs on a worker thread, one request at a time.

    Generators that share one PEFT model pass the same `lock`; `adapter` names the LoRA adapter
    to switch to (None: the base model, with adapters disabled).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        name: str,
        adapter: str | None = None,
        lock: threading.Lock | None = None,
    ) -> None:
        self.model, self.tokenizer, self.name, self.adapter = model, tokenizer, name, adapter
        self._lock = lock or threading.Lock()

    async def generate(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float
    ) -> Generation:
        return await asyncio.to_thread(self._generate, messages, max_tokens, temperature)

    def _generate(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float
    ) -> Generation:
        with self._lock, self._adapter_scope():
            return complete_chat(self.model, self.tokenizer, messages, max_tokens, temperature)

    def _adapter_scope(self) -> Any:
        if not hasattr(self.model, "peft_config"):
            return contextlib.nullcontext()
        if self.adapter is None:
            return self.model.disable_adapter()
        self.model.set_adapter(self.adapter)
        return contextlib.nullcontext()


def complete_chat(
    model: Any,
    tokenizer: Any,
    messages: list[dict[str, str]],
    max_tokens: int,
    temperature: float = 0.0,
) -> Generation:
    """Apply the chat template, generate (greedy unless temperature > 0), decode the new text."""
    import torch

    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    ).to(model.device)
    sampling: dict[str, Any] = (
        {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
    )
    with torch.no_grad():
        out = model.generate(
            **inputs, max_new_tokens=max_tokens, pad_token_id=tokenizer.pad_token_id, **sampling
        )
    new = out[0][inputs["input_ids"].shape[1] :]
    finished = len(new) > 0 and int(new[-1]) == tokenizer.eos_token_id
    return Generation(
        text=str(tokenizer.decode(new, skip_special_tokens=True)).strip(),
        prompt_tokens=int(inputs["input_ids"].shape[1]),
        completion_tokens=len(new),
        finish_reason="stop" if finished or len(new) < max_tokens else "length",
    )

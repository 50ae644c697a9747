"""The local engine's seam: one model's batched decode loop, with LoRA adapters chosen per row.

- `LlamaCppDecoder` (llm/llamacpp.py), the default: the bundled GGUF through llama.cpp, with
  each micromodel's adapter converted to a GGUF LoRA.
- `TransformersDecoder`: any Hugging Face causal LM with PEFT adapters (a base model given as
  a directory or hub id; training and evaluation always run this way).

Both run the same loop (llm/decode.py explains it): shared prompt prefixes computed once,
finished rows dropped after every step, rows under a JSON schema beside free ones.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from microfleet.llm.decode import GREEDY, Sampling

OnToken = Callable[[int, int], bool]  # (row, token) -> is this row finished?
PEFT_BASE = "__base__"  # PEFT's name for "no adapter" in a mixed batch


@dataclass
class Joining:
    """A row that joins a running batch: its prompt, adapter, guide and random stream."""

    prompt: list[int]
    adapter: str | None = None
    guide: Any = None  # a JSON-schema guide (llm/guided.py), or None: free
    stream: Any = None  # a seeded torch.Generator, or None


# Between steps, the rows that join (at most the given number); they take the next row indices.
Admit = Callable[[int], list[Joining]]


class Decoder(ABC):
    """Generates for a batch of token-id prompts, streaming each row's tokens to `on_token`."""

    engine: str  # what runs the model, for /readyz and the trace
    adapters: frozenset[str]  # the LoRA adapters it can apply, by name
    max_rows: int = 1 << 16  # the most rows one batch may have
    eos: frozenset[int]  # tokens that end an answer
    joins: bool = False  # whether rows may join a running batch (`decode`'s `admit`)
    # whether the model computes on torch's thread pool (the engine thread keeps it whole);
    # else torch only picks tokens, single-threaded (core/threads.py)
    torch_pool: bool = True

    @abstractmethod
    def decode(
        self,
        prompts: Sequence[Sequence[int]],
        on_token: OnToken,
        sampling: Sampling = GREEDY,
        adapters: Sequence[str | None] | None = None,
        guides: Sequence[Any] | None = None,
        admit: Admit | None = None,
    ) -> int:
        """Generate until every row's `on_token` says it is finished (adapter None: the base
        model); returns how many prompt positions prefill computed. Where the decoder `joins`,
        `admit(room)` is asked between steps for rows that join the batch."""

    def close(self) -> None:  # noqa: B027 - most decoders hold nothing to free
        """Free what the model holds outside Python's memory (called by the engine thread)."""


class TransformersDecoder(Decoder):
    """A Hugging Face model, PEFT-wrapped when it has adapters."""

    engine = "transformers"

    def __init__(self, model: Any, tokenizer: Any) -> None:
        from peft import PeftModel

        self.model = model
        self.adapters = frozenset(model.peft_config if isinstance(model, PeftModel) else ())
        configured = getattr(model.generation_config, "eos_token_id", None)
        ids = configured if isinstance(configured, list) else [configured]
        self.eos = frozenset(int(i) for i in [*ids, tokenizer.eos_token_id] if i is not None)

    def decode(
        self,
        prompts: Sequence[Sequence[int]],
        on_token: OnToken,
        sampling: Sampling = GREEDY,
        adapters: Sequence[str | None] | None = None,
        guides: Sequence[Any] | None = None,
        admit: Admit | None = None,
    ) -> int:
        from microfleet.llm.decode import decode

        names = None
        if self.adapters:
            names = [name or PEFT_BASE for name in adapters or [None] * len(prompts)]
        return decode(self.model, prompts, on_token, sampling, names, guides)

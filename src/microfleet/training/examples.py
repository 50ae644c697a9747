"""Turn Q&A pairs into chat-templated token ids whose labels cover the answer tokens only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from microfleet.micromodel.prompt import build_messages
from microfleet.training.dataset import QAPair

IGNORE = -100


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]


def encode_example(tokenizer: Any, system_prompt: str, pair: QAPair, max_length: int) -> Example:
    messages = build_messages(system_prompt, pair.question, pair.context)
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(
        [*messages, {"role": "assistant", "content": pair.answer}], tokenize=False
    )
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    answer_ids = full_ids[len(prompt_ids) :]
    # Keep the whole answer; trim the prompt (its context) from the left if it is too long.
    keep_prompt = max(0, max_length - len(answer_ids))
    prompt_ids = prompt_ids[-keep_prompt:] if keep_prompt else []
    ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([IGNORE] * len(prompt_ids) + answer_ids)[:max_length]
    return Example(ids, labels)


def collate(batch: list[Example], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = [e.input_ids + [pad_id] * (width - len(e.input_ids)) for e in batch]
    labels = [e.labels + [IGNORE] * (width - len(e.labels)) for e in batch]
    mask = [[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in batch]
    return {
        "input_ids": torch.tensor(ids),
        "labels": torch.tensor(labels),
        "attention_mask": torch.tensor(mask),
    }

"""The batching engine on the real SmolLM2: mixed-adapter batches, streaming, cancellation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from microfleet.llm.generator import complete_chat
from microfleet.llm.local import BatchingEngine, LocalGenerator

QUESTIONS = ["Name a primary colour.", "What is two plus two?", "Say hello.", "Name a fruit."]


@pytest.fixture(scope="module")
def peft_model(models_dir: Path) -> Iterator[tuple[Any, Any]]:
    """The base model with one randomly initialised LoRA adapter, `noisy`, in fp32."""
    import torch
    from peft import LoraConfig, get_peft_model

    from microfleet.llm.base_model import load_base_model

    torch.manual_seed(0)
    model, tokenizer = load_base_model(None, models_dir, device="cpu")
    config = LoraConfig(r=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    yield get_peft_model(model, config, adapter_name="noisy").eval(), tokenizer


def _single(model: Any, tokenizer: Any, question: str, adapter: str | None) -> str:
    messages = [{"role": "user", "content": question}]
    if adapter is None:
        with model.disable_adapter():
            return complete_chat(model, tokenizer, messages, 10).text
    model.set_adapter(adapter)
    return complete_chat(model, tokenizer, messages, 10).text


async def _batched(engine: BatchingEngine, jobs: list[tuple[str, str | None]]) -> list[str]:
    async def one(question: str, adapter: str | None) -> str:
        generator = LocalGenerator(engine, adapter or "base", adapter)
        reply = await generator.generate([{"role": "user", "content": question}], 10, 0.0)
        return reply.text

    return await asyncio.gather(*[one(q, a) for q, a in jobs])


def test_one_batch_mixes_adapters_and_matches_single_runs(peft_model: tuple[Any, Any]) -> None:
    model, tokenizer = peft_model
    jobs = [(q, "noisy" if i % 2 else None) for i, q in enumerate(QUESTIONS)]
    expected = [_single(model, tokenizer, q, a) for q, a in jobs]
    engine = BatchingEngine(model, tokenizer, max_batch=8, window_s=0.2)
    try:
        got = asyncio.run(_batched(engine, jobs))
    finally:
        engine.close()
    assert engine.stats.largest_batch == len(jobs)  # one batch served both adapters
    assert got == expected
    assert expected[1] != _single(model, tokenizer, QUESTIONS[1], None)  # the adapter matters


def test_closing_the_stream_cancels_the_row(peft_model: tuple[Any, Any]) -> None:
    model, tokenizer = peft_model
    engine = BatchingEngine(model, tokenizer)

    async def read_three() -> list[str]:
        generator = LocalGenerator(engine, "base")
        stream = generator.stream([{"role": "user", "content": "Tell a long story."}], 200, 0.0)
        pieces = [(await anext(stream)).text for _ in range(3)]  # type: ignore[arg-type]
        await stream.aclose()  # type: ignore[attr-defined]
        return pieces

    try:
        pieces = asyncio.run(read_three())
        for _ in range(100):
            if engine.stats.cancelled:
                break
            time.sleep(0.05)
    finally:
        engine.close()
    assert all(pieces) and engine.stats.cancelled == 1
    assert engine.stats.tokens < 200

"""The batching engine on the real SmolLM2 through transformers and PEFT: mixed-adapter batches,
streaming, cancellation (tests/llm/test_llamacpp.py runs the same on llama.cpp)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from microfleet.errors import UserError
from microfleet.llm.decoder import TransformersDecoder
from microfleet.llm.generator import Generation, complete_chat
from microfleet.llm.local import BatchingEngine, LocalGenerator
from tests.llm.engine_checks import QUESTIONS, schema_batch


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
    engine = BatchingEngine(
        TransformersDecoder(model, tokenizer), tokenizer, max_batch=8, window_s=0.2
    )
    try:
        got = asyncio.run(_batched(engine, jobs))
    finally:
        engine.close()
    assert engine.stats.largest_batch == len(jobs)  # one batch served both adapters
    assert got == expected
    assert expected[1] != _single(model, tokenizer, QUESTIONS[1], None)  # the adapter matters


CONTEXT = (
    "You answer questions about a small fictional bank. The bank opens at nine, closes at five, "
    "charges no fee for transfers between its own accounts, and pays two percent on savings."
)


def test_a_shared_prefix_is_computed_once_and_changes_nothing(
    peft_model: tuple[Any, Any],
) -> None:
    """Rows of one adapter with the same system prompt prefill it once; the answers are the
    ones each row gets alone."""
    model, tokenizer = peft_model
    questions = ["When does it open?", "What do savings pay?", "Is a transfer free?"]
    jobs = [(q, "noisy") for q in questions] + [(QUESTIONS[0], None)]
    chats = [
        [{"role": "system", "content": CONTEXT}, {"role": "user", "content": q}] for q, _ in jobs
    ]
    expected = []
    for chat, (_, adapter) in zip(chats, jobs, strict=True):
        model.set_adapter("noisy")
        if adapter is None:
            with model.disable_adapter():
                expected.append(complete_chat(model, tokenizer, chat, 10).text)
        else:
            expected.append(complete_chat(model, tokenizer, chat, 10).text)

    seen: list[int] = []
    embed = model.get_input_embeddings()
    hook = embed.register_forward_pre_hook(lambda _, args: seen.append(args[0].numel()))
    engine = BatchingEngine(
        TransformersDecoder(model, tokenizer), tokenizer, max_batch=8, window_s=0.2
    )

    async def run() -> list[str]:
        async def one(chat: list[dict[str, str]], adapter: str | None) -> str:
            generator = LocalGenerator(engine, adapter or "base", adapter)
            return (await generator.generate(chat, 10, 0.0)).text

        return await asyncio.gather(*[one(c, a) for c, (_, a) in zip(chats, jobs, strict=True)])

    try:
        got = asyncio.run(run())
    finally:
        engine.close(wait=True)
        hook.remove()
    assert engine.stats.largest_batch == len(jobs)
    assert got == expected
    texts = [
        tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chats
    ]
    prompt_tokens = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    assert engine.stats.prompt_tokens == sum(prompt_tokens)
    assert engine.stats.prefill_tokens == sum(n for n in seen if n > len(jobs))
    prefill = sum(n for n in seen if n > len(jobs))  # decoding steps feed one token a row
    assert prefill < sum(prompt_tokens) - prompt_tokens[0] // 2  # the prefix was computed once


def test_closing_the_stream_cancels_the_row(peft_model: tuple[Any, Any]) -> None:
    model, tokenizer = peft_model
    engine = BatchingEngine(TransformersDecoder(model, tokenizer), tokenizer)

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


def test_a_task_whose_caller_gave_up_does_not_kill_the_engine(
    peft_model: tuple[Any, Any],
) -> None:
    """Regression: a cancelled future (a client that timed out) used to raise InvalidStateError
    on the engine thread, and every later request hung."""
    model, tokenizer = peft_model
    engine = BatchingEngine(TransformersDecoder(model, tokenizer), tokenizer)
    started = __import__("threading").Event()

    def slow(_model: Any, _tokenizer: Any) -> str:
        started.set()
        time.sleep(0.3)
        return "late"

    try:
        first = engine.call(slow)
        queued = engine.call(lambda m, t: "never")
        started.wait(5)
        first.cancel()  # too late: it runs, and its result goes nowhere
        assert queued.cancel()  # still queued: it never runs
        assert engine.call(lambda m, t: "still alive").result(timeout=10) == "still alive"
        reply = asyncio.run(
            LocalGenerator(engine, "base").generate([{"role": "user", "content": "Hi"}], 3, 0.0)
        )
        assert reply.text and engine.alive
    finally:
        engine.close(wait=True)


def test_a_dead_engine_fails_fast_and_is_not_ready(peft_model: tuple[Any, Any]) -> None:
    from microfleet.llm.generator import BackendUnavailable

    model, tokenizer = peft_model
    engine = BatchingEngine(TransformersDecoder(model, tokenizer), tokenizer)

    def die(_model: Any, _tokenizer: Any) -> None:
        raise SystemExit("simulated engine failure")  # not an Exception: escapes the task

    engine.call(die)
    engine._thread.join(10)
    generator = LocalGenerator(engine, "base")
    assert not engine.alive and "simulated engine failure" in (engine.failure or "")
    with pytest.raises(BackendUnavailable, match="engine stopped"):
        asyncio.run(generator.ready())
    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        asyncio.run(generator.generate([{"role": "user", "content": "Hi"}], 3, 0.0))
    assert time.monotonic() - started < 1


def test_rows_under_a_schema_write_valid_json_beside_free_rows(
    peft_model: tuple[Any, Any],
) -> None:
    """One batch: two rows decode under a JSON schema (on the base model and the adapter),
    one row decodes freely and matches its single run."""
    model, tokenizer = peft_model
    expected = _single(model, tokenizer, QUESTIONS[1], None)
    engine = BatchingEngine(
        TransformersDecoder(model, tokenizer), tokenizer, max_batch=8, window_s=0.2
    )
    try:
        plain = schema_batch(engine)
    finally:
        engine.close(wait=True)
    assert engine.stats.largest_batch == 3
    assert plain == expected


def test_a_schema_that_cannot_compile_fails_its_request_alone(
    peft_model: tuple[Any, Any],
) -> None:
    """Its batch-mate answers, and the engine stays up; a stop string then ends that answer
    before it, token counts included."""
    model, tokenizer = peft_model
    engine = BatchingEngine(TransformersDecoder(model, tokenizer), tokenizer, window_s=0.5)
    chat = [{"role": "user", "content": "Count from one to ten in words."}]
    bad = {"type": "object", "properties": {"a": {"type": "frobnicate"}}}
    generator = LocalGenerator(engine, "base")

    async def both() -> list[Any]:
        return await asyncio.gather(
            generator.generate(chat, 12, 0.0, schema=bad),
            generator.generate(chat, 12, 0.0),
            return_exceptions=True,
        )

    try:
        failed, answered = asyncio.run(both())
        assert engine.alive and isinstance(answered, Generation)
        stop = answered.text.split()[2]
        stopped = asyncio.run(generator.generate(chat, 12, 0.0, stop=[stop]))
    finally:
        engine.close()
    assert isinstance(failed, UserError) and "frobnicate" in str(failed)
    assert stopped.finish_reason == "stop"
    assert stopped.text == answered.text[: answered.text.index(stop)].strip()
    assert stopped.completion_tokens < answered.completion_tokens


EXIT_SCRIPT = """
import asyncio, atexit, sys
from pathlib import Path
from microfleet.llm.llamacpp import bundled_decoder
from microfleet.llm.local import BatchingEngine, LocalGenerator

decoder, tokenizer = bundled_decoder(Path(sys.argv[1]), {}, rows=2, context=256)
state = {}
atexit.register(lambda: print("engine alive at exit:", state["engine"].alive))  # runs last
state["engine"] = engine = BatchingEngine(decoder, tokenizer, max_batch=2)
chat = [{"role": "user", "content": "Say hello."}]
answer = asyncio.run(LocalGenerator(engine, "base", None).generate(chat, 4, 0.0))
print("answered:", bool(answer.text))
"""


def test_an_engine_nobody_closed_stops_before_the_interpreter_ends(models_dir: Path) -> None:
    """A script that never closes its engine exits cleanly: the engine's exit hook stops its
    thread, which frees the decoder, before the interpreter finalizes (freed by a dying
    interpreter's garbage collector instead, llama.cpp aborted about one exit in two)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, str(models_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "answered: True" in done.stdout
    assert "engine alive at exit: False" in done.stdout

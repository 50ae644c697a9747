"""The default engine, llama.cpp on the bundled GGUF: converted adapters answer as trained, and a
batch (mixed adapters, shared prefixes, schema rows) answers as each row does alone."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from microfleet.llm.llamacpp import bundled_decoder
from microfleet.llm.local import BatchingEngine, LocalGenerator
from microfleet.micromodel.spec import load_fleet
from tests.conftest import REPO
from tests.llm.engine_checks import QUESTIONS, schema_batch

CONTEXT = (
    "You answer questions about a small fictional bank. The bank opens at nine, closes at five, "
    "charges no fee for transfers between its own accounts, and pays two percent on savings."
)
Chat = list[dict[str, str]]


@pytest.fixture(scope="module")
def engine(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchingEngine]:
    """The GGUF with two adapters: `noisy` (random, PEFT-saved, converted here) and the
    finance fleet's shipped `tax_rates` champion."""
    import torch
    from peft import LoraConfig, get_peft_model

    from microfleet.llm.base_model import load_base_model

    torch.manual_seed(0)
    model, _ = load_base_model(None, models_dir, device="cpu")
    config = LoraConfig(r=8, target_modules=["q_proj", "k_proj", "down_proj"])
    noisy = get_peft_model(model, config, adapter_name="noisy")
    for name, weight in noisy.named_parameters():
        if "lora_B" in name:  # PEFT starts B at zero; a random B makes the adapter matter
            torch.nn.init.normal_(weight, std=0.05)
    saved = tmp_path_factory.mktemp("adapters")
    noisy.save_pretrained(saved, selected_adapters=["noisy"])
    adapters = {
        "noisy": (saved / "noisy", "test"),
        "tax_rates": (REPO / "fleets" / "finance" / "adapters" / "tax_rates", "shipped"),
    }
    decoder, tokenizer = bundled_decoder(models_dir, adapters, rows=32, context=512)
    built = BatchingEngine(decoder, tokenizer, max_batch=32, window_s=0.3)
    yield built
    built.close(wait=True)


async def _answers(
    engine: BatchingEngine, jobs: list[tuple[Chat, str | None]], n: int
) -> list[str]:
    async def one(chat: Chat, adapter: str | None) -> str:
        return (
            await LocalGenerator(engine, adapter or "base", adapter).generate(chat, n, 0.0)
        ).text

    return await asyncio.gather(*[one(chat, adapter) for chat, adapter in jobs])


def _settled(engine: BatchingEngine) -> None:
    """Wait until the engine thread has finished its batch's bookkeeping."""
    engine.call(lambda _decoder, _tokenizer: None).result(timeout=30)


def _alone(engine: BatchingEngine, jobs: list[tuple[Chat, str | None]], n: int) -> list[str]:
    return [asyncio.run(_answers(engine, [job], n))[0] for job in jobs]


def test_a_mixed_adapter_batch_answers_as_each_row_alone(engine: BatchingEngine) -> None:
    jobs = [
        ([{"role": "user", "content": q}], "noisy" if i % 2 else None)
        for i, q in enumerate(QUESTIONS)
    ]
    expected = _alone(engine, jobs, 12)
    _settled(engine)
    before = engine.stats.largest_batch
    got = asyncio.run(_answers(engine, jobs, 12))
    _settled(engine)
    assert engine.stats.largest_batch == max(before, len(jobs))  # one batch, both adapters
    assert got == expected
    adapted = [i for i, (_, adapter) in enumerate(jobs) if adapter]
    base_answers = _alone(engine, [(jobs[i][0], None) for i in adapted], 12)
    assert any(b != expected[i] for b, i in zip(base_answers, adapted, strict=True))


def test_a_shared_prefix_is_computed_once_and_changes_nothing(engine: BatchingEngine) -> None:
    questions = ["When does it open?", "What do savings pay?", "Is a transfer free?"]
    jobs: list[tuple[Chat, str | None]] = [
        ([{"role": "system", "content": CONTEXT}, {"role": "user", "content": q}], "noisy")
        for q in questions
    ]
    jobs.append(([{"role": "user", "content": QUESTIONS[0]}], None))
    expected = _alone(engine, jobs, 10)
    _settled(engine)
    prompt0, prefill0 = engine.stats.prompt_tokens, engine.stats.prefill_tokens
    got = asyncio.run(_answers(engine, jobs, 10))
    _settled(engine)
    prompt, prefill = engine.stats.prompt_tokens - prompt0, engine.stats.prefill_tokens - prefill0
    assert got == expected
    context_tokens = len(engine.tokenizer(CONTEXT)["input_ids"])
    assert prefill <= prompt - 2 * context_tokens  # the context was computed once, not 3 times


def test_the_converted_champion_knows_its_facts(engine: BatchingEngine) -> None:
    """The shipped tax_rates adapter, converted to GGUF LoRA, answers the held-out paraphrases
    (no context) as it did under PEFT in training: every standard rate right."""
    spec = load_fleet(REPO / "fleets" / "finance" / "fleet.yaml").get("tax_rates")
    path = REPO / "fleets" / "finance" / "eval" / "tax_rates_paraphrases.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    generator = LocalGenerator(engine, "tax_rates", "tax_rates")

    async def ask() -> list[Any]:
        return await asyncio.gather(
            *[
                generator.generate(
                    [
                        {"role": "system", "content": spec.system_prompt},
                        {"role": "user", "content": row["question"]},
                    ],
                    48,
                    0.0,
                    spec.returns,
                )
                for row in rows
            ]
        )

    replies = asyncio.run(ask())
    right = sum(
        json.loads(reply.text)["rate"] == float(row["answer"].rstrip("%"))
        for reply, row in zip(replies, rows, strict=True)
    )
    assert right >= len(rows) - 1, right  # 27 of 27 when measured; the base model gets few


def test_closing_the_stream_cancels_the_row(engine: BatchingEngine) -> None:
    _settled(engine)
    cancelled, tokens = engine.stats.cancelled, engine.stats.tokens

    async def read_three() -> list[str]:
        stream = LocalGenerator(engine, "base").stream(
            [{"role": "user", "content": "Tell a long story."}], 300, 0.0
        )
        pieces = [(await anext(stream)).text for _ in range(3)]  # type: ignore[arg-type]
        await stream.aclose()  # type: ignore[attr-defined]
        return pieces

    pieces = asyncio.run(read_three())
    _settled(engine)
    assert all(pieces) and engine.stats.cancelled == cancelled + 1
    assert engine.stats.tokens - tokens < 300


def test_schema_rows_write_valid_json_beside_free_rows(engine: BatchingEngine) -> None:
    free: Chat = [{"role": "user", "content": QUESTIONS[1]}]
    expected = _alone(engine, [(free, None)], 10)[0]
    assert schema_batch(engine) == expected


LONG = [{"role": "user", "content": "Count from 1 to 300, separated by commas."}]


def _joining_changes_no_answer(
    engine: BatchingEngine,
    running: list[tuple[Chat, str | None]],
    n: int,
    short: list[tuple[Chat, str | None]],
) -> None:
    """`short` rows sent one after another while `running` decodes `n` tokens each join its
    batch, and every row answers as alone."""
    expected_long, expected = _alone(engine, running, n), _alone(engine, short, 8)
    _settled(engine)
    joined, batches = engine.stats.joined, engine.stats.batches

    async def scenario() -> tuple[list[str], list[str], bool]:
        long = asyncio.create_task(_answers(engine, running, n))
        await asyncio.sleep(0.6)  # past the batch window: the long rows are decoding
        got = [(await _answers(engine, [job], 8))[0] for job in short]
        still_going = not long.done()
        return await long, got, still_going

    got_long, got, still_going = asyncio.run(scenario())
    _settled(engine)
    assert still_going, "the long answers ended before the others joined: make them longer"
    assert engine.stats.joined - joined == len(short) and engine.stats.batches - batches == 1
    assert got == expected
    assert got_long == expected_long


def test_requests_join_a_running_batch_and_change_no_answer(engine: BatchingEngine) -> None:
    """Rows that join between steps (one after another, so the second reuses the first's
    freed KV stream) answer as alone, and so does the long row they joined."""
    short: list[tuple[Chat, str | None]] = [
        ([{"role": "user", "content": QUESTIONS[0]}], None),
        ([{"role": "user", "content": QUESTIONS[1]}], "noisy"),
        ([{"role": "user", "content": QUESTIONS[2]}], None),
    ]
    _joining_changes_no_answer(engine, [(LONG, None)], 300, short)


def test_typed_rows_prefill_their_fixed_opening_and_answer_as_alone(engine: BatchingEngine) -> None:
    """A schema whose leading fields are `const` fixes how each answer starts; the engine feeds
    that opening with the prompt instead of decoding it a pass a token. In one batch of such
    rows, with prompts of several lengths (each prefill pass on neighbouring KV streams), each
    row answers exactly as it does alone, and its answer keeps the opening."""
    from microfleet.llm.guided import fixed_opening

    spec = load_fleet(REPO / "fleets" / "finance" / "fleet.yaml").get("tax_rates")
    countries = ["Malta", "Czech Republic", "Luxembourg", "Germany", "Netherlands", "Cyprus"]
    schemas = [spec.result_schema({"country": c}) for c in countries]
    generator = LocalGenerator(engine, "tax_rates", "tax_rates")

    async def ask(country: str, schema: Any) -> str:
        chat = [
            {"role": "system", "content": spec.system_prompt},
            {"role": "user", "content": spec.question_for({"country": country})},
        ]
        return (await generator.generate(chat, 32, 0.0, schema)).text

    alone = [asyncio.run(ask(c, s)) for c, s in zip(countries, schemas, strict=True)]
    _settled(engine)
    tokens = engine.stats.tokens

    async def together() -> list[str]:
        return await asyncio.gather(*[ask(c, s) for c, s in zip(countries, schemas, strict=True)])

    got = asyncio.run(together())
    _settled(engine)
    assert got == alone
    for text, country, schema in zip(got, countries, schemas, strict=True):
        assert text.startswith(fixed_opening(schema).rstrip())
        assert json.loads(text)["country"] == country
    written = sum(len(engine.tokenizer(text)["input_ids"]) for text in got)
    assert engine.stats.tokens - tokens < written / 2  # most of each answer was not decoded


def _two_lanes() -> list[tuple[Chat, str | None]]:
    """Questions alternating between the base model and `noisy`: two lanes, on two cores."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("lanes need two cores; this machine has one")
    return [
        ([{"role": "user", "content": q}], ("noisy", None)[i % 2]) for i, q in enumerate(QUESTIONS)
    ]


def _token_ids(tokenizer: Any, jobs: list[tuple[Chat, str | None]]) -> list[list[int]]:
    """Each job's chat as the engine prompts it: its chat template, then its token ids."""
    texts = [
        tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False)
        for c, _ in jobs
    ]
    return [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]


def test_adapters_lanes_race_yet_hand_over_tokens_one_at_a_time(engine: BatchingEngine) -> None:
    """A batch that mixes adapters decodes each adapter's rows in a lane of its own thread,
    yet `on_token` (which streams rows to their requests) is never entered by two at once,
    and every row answers as alone."""
    import threading
    import time

    jobs = _two_lanes()
    expected = _alone(engine, jobs, 12)

    def run(decoder: Any, tokenizer: Any) -> tuple[int, int, list[str]]:
        prompts = _token_ids(tokenizer, jobs)
        out: list[list[int]] = [[] for _ in jobs]
        inside, overlaps, callers = [0], [0], set()

        def on_token(row: int, token: int) -> bool:
            callers.add(threading.get_ident())
            inside[0] += 1
            overlaps[0] += inside[0] > 1
            time.sleep(0.001)  # the GIL is free meanwhile: another lane could come in
            inside[0] -= 1
            if token in decoder.eos:
                return True
            out[row].append(token)
            return len(out[row]) >= 12

        decoder.decode(prompts, on_token, adapters=[adapter for _, adapter in jobs])
        return (
            overlaps[0],
            len(callers),
            [tokenizer.decode(ids, skip_special_tokens=True) for ids in out],
        )

    overlaps, callers, got = engine.call(run).result(timeout=120)
    assert callers == 2  # the two adapters' lanes each handed over tokens
    assert overlaps == 0
    assert [g.strip() for g in got] == [e.strip() for e in expected]


def test_requests_join_a_batch_whose_lanes_race(engine: BatchingEngine) -> None:
    """Two long rows on two adapters race in lanes; short rows that arrive meanwhile join the
    same batch (the racing lanes stop for them) and every row answers as alone."""
    short: list[tuple[Chat, str | None]] = [
        ([{"role": "user", "content": QUESTIONS[0]}], "noisy"),
        ([{"role": "user", "content": QUESTIONS[1]}], None),
    ]
    _joining_changes_no_answer(engine, [(LONG, None), (LONG, "noisy")], 200, short)


def test_a_lane_that_fails_fails_its_batch_and_the_next_batch_answers(
    engine: BatchingEngine,
) -> None:
    """A failure in one racing lane (here its row's callback) stops the other lanes and
    reaches the caller; the KV caches are emptied, so the next batch answers as before."""
    jobs = _two_lanes()
    expected = _alone(engine, jobs, 8)

    def run(decoder: Any, tokenizer: Any) -> str:
        prompts = _token_ids(tokenizer, jobs)
        made = [0] * len(jobs)

        def on_token(row: int, token: int) -> bool:
            made[row] += 1
            if row == 1 and made[row] == 5:
                raise RuntimeError("a row's stream broke")
            return made[row] >= 30

        try:
            decoder.decode(prompts, on_token, adapters=[adapter for _, adapter in jobs])
        except RuntimeError as exc:
            assert max(made) < 30  # the other lanes stopped too
            return str(exc)
        return "no error"

    assert engine.call(run).result(timeout=120) == "a row's stream broke"
    assert asyncio.run(_answers(engine, jobs, 8)) == expected

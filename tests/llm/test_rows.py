"""RowStreamer: tokens in, text pieces out, read a few tokens at a time."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from microfleet.llm.generator import Delta
from microfleet.llm.rows import Job, RowStreamer

TEXTS = [
    "The standard VAT rate in Österreich is 20 % — and in Hungary 27 %.",
    "Emoji 🇪🇺🙂 and CJK 増値税 and ligatures ﬁ, then code: `x = {'a': 1}`\n\n- item",
    "  Leading spaces,\ttabs and a long word: antidisestablishmentarianism.",
]


@pytest.fixture(scope="module")
def tokenizer(models_dir: Path) -> Any:
    from transformers import AutoTokenizer

    from microfleet.llm.base_model import smollm2_dir

    return AutoTokenizer.from_pretrained(smollm2_dir(models_dir))


def _stream(tokenizer: Any, ids: list[int], stop: tuple[str, ...] = ()) -> list[Delta]:
    loop = asyncio.new_event_loop()
    try:
        out: asyncio.Queue[Delta | BaseException] = asyncio.Queue()
        job = Job([], len(ids) + 1, 0.0, None, loop, out, stop=stop)
        rows = RowStreamer(tokenizer, [job], frozenset({tokenizer.eos_token_id}), [0])
        for token in [*ids, tokenizer.eos_token_id]:
            if rows.on_token(0, token):
                break
        loop.run_until_complete(asyncio.sleep(0))  # the pieces emitted from "another thread"
        return [out.get_nowait() for _ in range(out.qsize())]  # type: ignore[misc]
    finally:
        loop.close()


@pytest.mark.parametrize("text", TEXTS)
def test_pieces_add_up_to_the_whole_decode(tokenizer: Any, text: str) -> None:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    pieces = _stream(tokenizer, ids)
    assert "".join(p.text for p in pieces) == tokenizer.decode(ids) == text
    assert all("\ufffd" not in p.text for p in pieces)  # half characters are held back
    assert pieces[-1].finish_reason == "stop" and pieces[-1].completion_tokens == len(ids)


def test_a_stop_string_ends_the_text_before_it(tokenizer: Any) -> None:
    ids = tokenizer("Rates: 20 % in Austria. END and more text", add_special_tokens=False)
    pieces = _stream(tokenizer, ids["input_ids"], stop=("END",))
    assert "".join(p.text for p in pieces) == "Rates: 20 % in Austria. "
    assert pieces[-1].finish_reason == "stop"

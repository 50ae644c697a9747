"""The loop stop: a looping answer ends before its repeat; a normal one streams unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from microfleet.llm.generator import Delta
from microfleet.llm.repeats import RepeatGuard, guarded


def _run(pieces: list[str]) -> tuple[str, RepeatGuard]:
    guard = RepeatGuard()
    shown = "".join(guard.feed(p) for p in pieces) + guard.flush()
    return shown, guard


def test_a_loop_is_cut_to_one_period() -> None:
    loop = "23% VAT on 23% of the EU member states' VAT rates. "
    shown, guard = _run([loop] * 12)
    assert guard.looping
    assert shown.startswith(loop.strip()) and len(shown) < 2 * len(loop)


def test_a_loop_of_short_tokens_is_caught() -> None:
    shown, guard = _run(["Hungary", " has", " 27%", " and"] * 40)
    assert guard.looping and len(shown) < 100


def test_a_normal_answer_streams_whole_and_held_back_little() -> None:
    text = (
        "Luxembourg has the lowest standard VAT rate, 17% [1]. Hungary has the highest, 27% "
        "[1]. The standard VAT rate in Germany is 19%, and in France it is 20% [1]."
    )
    guard = RepeatGuard()
    lags = []
    shown = ""
    for i, char in enumerate(text):
        shown += guard.feed(char)
        lags.append(i + 1 - len(shown))
    shown += guard.flush()
    assert shown == text and not guard.looping
    assert max(lags) < RepeatGuard().span // 2  # only a repeat in progress waits


def test_span_zero_passes_everything_through() -> None:
    guard = RepeatGuard(span=0)
    pieces = ["loop "] * 30
    assert "".join(guard.feed(p) for p in pieces) + guard.flush() == "".join(pieces)
    assert not guard.looping


def test_a_loop_ends_after_a_whole_period() -> None:
    shown, _ = _run(["Intro. "] + ["I'm sorry for any confusion. "] * 20)
    assert shown == "Intro. I'm sorry for any confusion."


def test_a_loop_never_ends_mid_word() -> None:
    # The unit repeats from "he news", one character in: a period's end falls inside "the".
    shown, guard = _run(["The news said that"] + [" the news said that"] * 12)
    assert guard.looping and shown.rstrip() == "The news said that"


async def _pieces(texts: list[str]) -> AsyncIterator[Delta]:
    for text in texts:
        yield Delta(text)
    yield Delta("", "length", 9, len(texts))


def test_guarded_cuts_a_loop_and_counts_what_was_made() -> None:
    async def run(texts: list[str]) -> list[Delta]:
        return [d async for d in guarded(_pieces(texts), RepeatGuard(), len, 5)]

    looped = asyncio.run(run(["Bread and buns. "] * 10))
    assert "".join(d.text for d in looped).strip() == "Bread and buns."
    end = looped[-1]
    assert (end.finish_reason, end.prompt_tokens) == ("stop", 5)
    assert 2 * 16 < end.completion_tokens < 10 * 16  # what was made before the cut: counted
    whole = asyncio.run(run(["One, ", "two."]))
    assert "".join(d.text for d in whole) == "One, two." and whole[-1].finish_reason == "length"


def test_a_numbered_loop_is_caught_though_each_piece_ends_on_a_new_number() -> None:
    # Each piece "quarter.\n3." holds the end of one repeat and the number of the next, so
    # no piece ends on a repeat of 48 characters: the ends of words inside a piece count.
    line = "The company's revenue was reported for the quarter."
    text = "\n".join(f"{n}. {line}" for n in range(1, 20))
    words = text.split(" ")
    shown, guard = _run([words[0], *(f" {word}" for word in words[1:])])
    assert guard.looping and shown.startswith(f"1. {line}") and shown.count("revenue") == 1

"""The seam's stop strings: where an answer may be shown up to, as it streams."""

from __future__ import annotations

import asyncio

from microfleet.llm.generator import stop_point
from microfleet.llm.scripted import ScriptedGenerator


def test_stop_point_cuts_at_the_first_stop_and_holds_back_a_possible_start() -> None:
    assert stop_point("The rate is 19%.", ["%"]) == (14, True)
    assert stop_point("a END b STOP", ["STOP", "END"]) == (2, True)  # the earliest of them
    assert stop_point("The rate is 19", ["%"]) == (14, False)  # nothing held back
    assert stop_point("The answer: EN", ["END"]) == (12, False)  # "EN" may become "END"
    assert stop_point("anything", []) == (8, False)


def test_a_generator_ends_before_its_stop_string() -> None:
    scripted = ScriptedGenerator(reply="Germany 19% and France 20%")
    whole = asyncio.run(scripted.generate([], 50, 0.0))
    cut = asyncio.run(scripted.generate([], 50, 0.0, stop=["%"]))
    assert whole.text == "Germany 19% and France 20%"
    assert (cut.text, cut.finish_reason) == ("Germany 19", "stop")

"""A stop for degenerate answers, on any backend: small models fall into loops ("the rate
of the rate of ... the rate of the rate of ..."). Once the latest SPAN characters of an answer
already occurred earlier in it, the answer is looping, and it ends before the repeat. Only the part
that repeats so far is held back while streaming, so a normal answer streams as it comes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from microfleet.llm.generator import Delta

SPAN = 48  # a repeat this long is a loop, not a turn of phrase
CLOSERS = ".!?;:)]\"'"  # what may end a loop's kept unit


class RepeatGuard:
    """`span` 0 turns the guard off."""

    def __init__(self, span: int = SPAN) -> None:
        self.span = span
        self.text = ""
        self.sent = 0
        self.looping = False

    def feed(self, piece: str) -> str:
        """Add generated text; returns what may be shown now ("" once looping)."""
        if self.span == 0:  # off: everything shows at once
            return piece
        if self.looping:
            return ""
        start, self.text = len(self.text), self.text + piece
        repeated = self._repeated_suffix()
        for cut in self._word_ends(start):  # a piece may hold a loop's end and the next start
            if self._repeated_suffix(cut) >= self.span:
                self.text, repeated = self.text[:cut], self.span
                break
        if repeated >= self.span:
            self.looping = True
            self.text = self.text[: max(self._loop_start(), self.sent)].rstrip()
            ready = len(self.text)
        else:  # hold back the repeat so far, from the start of the word it begins in
            ready = len(self.text) - repeated
            while 0 < ready < len(self.text) and self.text[ready - 1 : ready + 1].isalnum():
                ready -= 1
        out = self.text[self.sent : max(ready, self.sent)]
        self.sent = max(ready, self.sent)
        return out

    def flush(self) -> str:
        """The held-back rest, at the end of the answer."""
        out, self.sent = self.text[self.sent :], len(self.text)
        return out

    def _loop_start(self) -> int:
        """Where the loop's second period starts: the text is periodic from some point on
        (its period: how far back the repeated tail occurred before), and one period of it
        is kept, so the answer ends at the end of a whole unit."""
        text, tail = self.text, self.text[-self.span :]
        period = len(text) - self.span - text.rfind(tail, 0, len(text) - 1)
        start = len(text) - period
        while start > 0 and text[start - 1] == text[start - 1 + period]:
            start -= 1
        end = start + period  # where the unit ends is ambiguous by a shift; end a sentence
        while end < len(text) and text[end] in CLOSERS:
            end += 1
        if 0 < end < len(text) and text[end - 1].isalnum() and text[end].isalnum():
            # mid-word ("The news said that t|he news said that the ..."): end at a space
            space = text.rfind(" ", start, end)
            end = space if space > 0 else end
        return end

    def _word_ends(self, start: int) -> list[int]:
        """The ends of the words that the text from `start` on completes, before its end
        ("quarter.\n3." ends "quarter." and then "3.")."""
        text = self.text
        return [
            i for i in range(max(start, 1), len(text)) if text[i].isspace() > text[i - 1].isspace()
        ]

    def _repeated_suffix(self, end: int | None = None) -> int:
        """The length (at most `span`) of the longest tail of the text up to `end` (all of
        it by default) that also occurs earlier in it."""
        text = self.text if end is None else self.text[:end]
        low, high = 0, min(self.span, len(text) - 1)
        while low < high:  # a tail that occurred before: every shorter tail did too
            mid = (low + high + 1) // 2
            if text.find(text[-mid:], 0, len(text) - 1) != -1:
                low = mid
            else:
                high = mid - 1
        return low


async def guarded(
    deltas: AsyncIterator[Delta], guard: RepeatGuard, count: Callable[[str], int], prompt: int
) -> AsyncIterator[Delta]:
    """`deltas` through `guard`, ending with their finish. A loop ends the stream early (so
    its generation stops) with finish "stop" and usage counted here: `prompt` tokens, and the
    tokens `count` finds in what was generated."""
    made, last = "", Delta("", "stop")
    async with contextlib.aclosing(deltas) as pieces:  # type: ignore[type-var]
        async for delta in pieces:
            if delta.finish_reason:
                last = delta
                continue
            made += delta.text
            if shown := guard.feed(delta.text):
                yield Delta(shown)
            if guard.looping:
                last = Delta("", "stop", prompt, count(made))
                break
    if rest := guard.flush():
        yield Delta(rest)
    yield last

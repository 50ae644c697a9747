"""A stop for degenerate answers, on any backend: small models fall into loops ("the rate
of the rate of ... the rate of the rate of ..."). Once the latest SPAN characters of an answer
already occurred earlier in it, the answer is looping, and it ends before the repeat. Only the part
that repeats so far is held back while streaming, so a normal answer streams as it comes."""

from __future__ import annotations

SPAN = 48  # a repeat this long is a loop, not a turn of phrase


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
        self.text += piece
        repeated = self._repeated_suffix()
        if repeated >= self.span:
            self.looping = True
            self.text = self.text[: len(self.text) - repeated].rstrip()
            ready = len(self.text)
        else:
            ready = len(self.text) - repeated
        out = self.text[self.sent : max(ready, self.sent)]
        self.sent = max(ready, self.sent)
        return out

    def flush(self) -> str:
        """The held-back rest, at the end of the answer."""
        out, self.sent = self.text[self.sent :], len(self.text)
        return out

    def _repeated_suffix(self) -> int:
        """The length (at most `span`) of the longest tail that also occurs earlier."""
        low, high = 0, min(self.span, len(self.text) - 1)
        while low < high:  # a tail that occurred before: every shorter tail did too
            mid = (low + high + 1) // 2
            if self.text.find(self.text[-mid:], 0, len(self.text) - 1) != -1:
                low = mid
            else:
                high = mid - 1
        return low

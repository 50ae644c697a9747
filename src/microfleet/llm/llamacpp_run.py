"""The rows of one llama.cpp `decode` call (llm/llamacpp.py), and the KV sequences they hold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from microfleet.llm.decode import Sampling, by_adapter
from microfleet.llm.decoder import Joining

Pass = tuple[str | None, list[tuple[int, Sequence[int], int]]]  # an adapter; rows, tokens, at


class Run:
    """The rows of one `decode` call, by index: prompts, adapters, KV sequences, positions,
    guides, random streams, and the logits of the rows that are to pick a token next."""

    def __init__(self, sampling: Sampling) -> None:
        self.temperature, self.top_p = sampling.temperature, sampling.top_p
        self.prompts: list[list[int]] = []
        self.names: list[str | None] = []
        self.seqs: list[int] = []
        self.positions: list[int] = []
        self.guides: list[Any] = []
        self.streams: list[Any] = []
        self.alive: list[int] = []
        self.logits: dict[int, Any] = {}
        self.computed = 0

    def add(self, rows: list[Joining]) -> list[int]:
        """The new rows' indices. Each takes the lowest sequence its adapter's rows leave
        free: llama.cpp attends over every KV stream from a pass's lowest sequence to its
        highest, so an adapter's rows are numbered 0, 1, 2... (0, 3 and 6 would cost seven)."""
        new: list[int] = []
        for row in rows:
            index = len(self.prompts)
            used = {self.seqs[r] for r in [*self.alive, *new] if self.names[r] == row.adapter}
            self.prompts.append(row.prompt)
            self.names.append(row.adapter)
            self.seqs.append(min(set(range(len(used) + 1)) - used))
            self.positions.append(len(row.prompt))
            self.guides.append(row.guide)
            self.streams.append(row.stream)
            new.append(index)
        self.alive += new
        return new

    def next_logits(self, rows: list[int]) -> Any:
        import torch

        return torch.stack([self.logits.pop(row) for row in rows])

    def sampling(self, rows: list[int]) -> Sampling:
        streams = [self.streams[row] for row in rows]
        return Sampling(self.temperature, self.top_p, streams if any(streams) else None)

    def guides_of(self, rows: list[int]) -> list[Any]:
        return [self.guides[row] for row in rows]


def neighbours(passes: list[list[int]], seqs: list[int]) -> None:
    """The rows' sequences (`seqs`, by row) dealt again, so that each pass's rows hold
    neighbouring ones: a pass attends over every KV stream from its lowest sequence to its
    highest, and 5 rows of 27 scattered over sequences 0 to 25 cost nearly the 27 (measured:
    85 tokens took 194 ms)."""
    pool = sorted(seqs[row] for rows in passes for row in rows)
    for row, seq in zip([row for rows in passes for row in rows], pool, strict=True):
        seqs[row] = seq


def passes_of(
    going: list[tuple[int, int]], positions: list[int], names: list[str | None]
) -> list[Pass]:
    """Each adapter's rows (each with its token, at its position) as a pass of their own."""
    passes: list[Pass] = []
    for group in by_adapter([names[row] for row, _ in going]):
        rows = [going[j] for j in group]
        items: list[tuple[int, Sequence[int], int]] = [
            (row, [token], positions[row]) for row, token in rows
        ]
        passes.append((names[rows[0][0]], items))
    return passes

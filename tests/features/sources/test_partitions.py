"""A path or stdin partition's batches: full batches, and no small batch at the end."""

from __future__ import annotations

import threading

import pytest

from microfleet.documents.parse import RawRecord
from microfleet.features.sources.partitions import IterPartition


def batches(count: int, size: int, resume: int | None = None) -> list[list[str]]:
    records = iter([RawRecord(ref=str(i)) for i in range(count)])
    partition = IterPartition(records, size, resume, threading.Event())
    out: list[list[str]] = []
    with pytest.raises(StopIteration):
        while True:
            out += [[r.ref for r in batch] for batch in partition.next_batch()]
    assert partition.snapshot() == count
    return out


@pytest.mark.parametrize(
    ("count", "size", "sizes"),
    [
        (10, 4, [4, 6]),  # 2 left after 4 + 4: less than half a batch, so it joins
        (11, 4, [4, 4, 3]),  # 3 left: a batch of its own
        (528, 256, [256, 272]),
        (256, 256, [256]),
        (3, 256, [3]),
        (3, 1, [1, 1, 1]),
        (0, 4, []),
    ],
)
def test_a_small_rest_joins_the_last_batch(count: int, size: int, sizes: list[int]) -> None:
    out = batches(count, size)
    assert [len(b) for b in out] == sizes
    assert [ref for batch in out for ref in batch] == [str(i) for i in range(count)]


def test_a_resumed_partition_skips_what_it_emitted() -> None:
    records = iter([RawRecord(ref=str(i)) for i in range(10)])
    first = IterPartition(records, 4, None, threading.Event())
    assert len(first.next_batch()[0]) == 4
    out = batches(10, 4, resume=first.snapshot())
    assert [ref for batch in out for ref in batch] == [str(i) for i in range(4, 10)]

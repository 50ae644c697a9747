"""The feature pipeline as a Bytewax dataflow: read, spread, prepare, embed, write, report."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from microfleet.config import Settings
from microfleet.features.pipeline import (
    IngestStats,
    PipelineContext,
    embed_batch,
    prepare_batch,
    write_batch,
)
from microfleet.features.sources.partitions import IngestSource
from microfleet.features.sources.specs import InputSpec

Report = Callable[[IngestStats], None]


class _ReportPartition(StatelessSinkPartition[IngestStats]):
    def __init__(self, report: Report) -> None:
        self._report = report

    def write_batch(self, items: list[IngestStats]) -> None:
        for stats in items:
            self._report(stats)


class ReportSink(DynamicSink[IngestStats]):
    """Hands each batch's counts to a callback in this process (progress bar, summary)."""

    def __init__(self, report: Report) -> None:
        self._report = report

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ReportPartition:
        return _ReportPartition(self._report)


def build_flow(
    specs: list[InputSpec],
    settings: Settings,
    ctx: PipelineContext,
    report: Report,
    follow: bool = False,
    stop: threading.Event | None = None,
) -> Dataflow:
    """`stop`, once set, makes every source finish, so the flow drains and ends cleanly."""
    flow = Dataflow("microfleet_ingest")
    source = IngestSource(specs, settings, follow, stop or threading.Event())
    batches: Any = op.input("read", flow, source)
    batches = op.redistribute("spread", batches)
    prepared = op.map("prepare", batches, lambda records: prepare_batch(records, ctx))
    embedded = op.map("embed", prepared, lambda batch: embed_batch(batch, ctx))
    written = op.map("write", embedded, lambda batch: write_batch(batch, ctx))
    op.output("report", written, ReportSink(report))
    return flow

"""The feature pipeline as a Bytewax dataflow: read, spread, prepare, embed, write, report.

In one process every step runs on every worker. In a cluster (`build_cluster_flow`) one process
holds the store: it reads, prepares (the unchanged and ownership checks read the store) and
writes; every process embeds. The Edge shard is single-process, and one writer also keeps each
document's replace-then-delete-stale in order on a Qdrant server.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.outputs import (
    DynamicSink,
    FixedPartitionedSink,
    StatefulSinkPartition,
    StatelessSinkPartition,
)

from microfleet.config import Settings
from microfleet.features.pipeline import (
    Batch,
    EmbedContext,
    IngestStats,
    PipelineContext,
    embed_batch,
    prepare_batch,
    write_batch,
)
from microfleet.features.sources.partitions import IngestSource
from microfleet.features.sources.specs import InputSpec

Report = Callable[[IngestStats], None]
WriterReport = Callable[[IngestStats, int], None]  # a batch's counts, the process that embedded it
WRITER = "store"  # the one partition of the cluster's write step


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


class _WriterPartition(StatefulSinkPartition[Batch, None]):
    def __init__(self, ctx: PipelineContext, report: WriterReport) -> None:
        self._ctx, self._report = ctx, report

    def write_batch(self, items: list[Batch]) -> None:
        for batch in items:
            self._report(write_batch(batch, self._ctx), batch.embedded_in)

    def snapshot(self) -> None:
        return None


class WriterSink(FixedPartitionedSink[Batch, None]):
    """Every write goes to the one process that holds the store: only it lists the partition."""

    def __init__(self, ctx: PipelineContext | None, report: WriterReport) -> None:
        self._ctx, self._report = ctx, report

    def list_parts(self) -> list[str]:
        return [WRITER] if self._ctx is not None else []

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _WriterPartition:
        return _WriterPartition(_holder(self._ctx), self._report)


def build_cluster_flow(
    specs: list[InputSpec],
    settings: Settings,
    embed: EmbedContext,
    writer: PipelineContext | None,
    report: WriterReport,
    follow: bool = False,
    stop: threading.Event | None = None,
) -> Dataflow:
    """The same dataflow in every process of a cluster; `writer` is set in the one holding the
    store, and None in the others (they only embed)."""
    flow = Dataflow("microfleet_ingest_cluster")
    local = writer is not None
    source = IngestSource(specs, settings, follow, stop or threading.Event(), local=local)
    records: Any = op.input("read", flow, source)
    prepared = op.map("prepare", records, lambda batch: prepare_batch(batch, _holder(writer)))
    spread = op.redistribute("spread", prepared)
    embedded = op.map("embed", spread, lambda batch: _embed_here(batch, embed))
    routed = op.key_on("route", embedded, lambda _: WRITER)
    op.output("write", routed, WriterSink(writer, report))
    return flow


def _embed_here(batch: Batch, embed: EmbedContext) -> Batch:
    batch.embedded_in = os.getpid()
    return embed_batch(batch, embed)


def _holder(ctx: PipelineContext | None) -> PipelineContext:
    if ctx is None:  # the partitions that call this are listed only where the store is
        raise RuntimeError("a store step was scheduled on a process without the store")
    return ctx

"""Run an ingest: load the pipeline once, run the dataflow with recovery, return the counts."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from microfleet.config import Settings
from microfleet.errors import UserError
from microfleet.features.chunking import Chunker, load_generator_tokenizer
from microfleet.features.dataflow import build_flow
from microfleet.features.guard import InjectionScreen
from microfleet.features.journal import WriteJournal
from microfleet.features.pipeline import DeadLetter, IngestStats, PipelineContext
from microfleet.features.sources.specs import InputSpec
from microfleet.knowledge.connect import open_store
from microfleet.knowledge.embedding import load_embedder
from microfleet.knowledge.sparse import Bm25Encoder

log = logging.getLogger("microfleet.ingest")


@dataclass
class IngestResult:
    stats: IngestStats
    interrupted: bool = False


def load_context(settings: Settings) -> PipelineContext:
    """Load the tokenizer, the embedder and the store once for the whole process."""
    tokenizer = load_generator_tokenizer(settings.model_cache_dir)
    chunker = Chunker(tokenizer, settings.chunk_tokens, settings.chunk_overlap)
    embedder = load_embedder(settings.embedding_model, settings.embed_batch_size)
    store = open_store(settings, embedder.dim)
    journal = WriteJournal(settings.journal_dir)
    repaired = journal.repair(store)  # a writer killed mid-write left these half replaced
    if repaired:
        log.warning("repaired %d documents a killed ingest left half written", repaired)
    return PipelineContext(
        chunker=chunker,
        embedder=embedder,
        sparse=Bm25Encoder(),
        store=store,
        dead_letter=DeadLetter(settings.dead_letter_path),
        max_bytes=int(settings.max_document_mb * 1_000_000),
        journal=journal,
        screen=InjectionScreen.load(threshold=settings.injection_threshold)
        if settings.injection_screen
        else None,
    )


def run_ingest(
    specs: list[InputSpec],
    settings: Settings,
    ctx: PipelineContext,
    follow: bool = False,
    workers: int | None = None,
    on_batch: Callable[[IngestStats], None] | None = None,
    stop: threading.Event | None = None,
) -> IngestResult:
    """Blocks until the inputs are exhausted or `stop` is set. Resumes a killed run."""
    stop = stop or threading.Event()
    total = IngestStats()
    lock = threading.Lock()

    def report(stats: IngestStats) -> None:
        with lock:
            total.add(stats)
        if on_batch is not None:
            on_batch(stats)

    flow = build_flow(specs, settings, ctx, report, follow, stop)
    recovery = recovery_dir(specs, settings)
    try:
        _execute(flow, settings, workers or settings.workers, recovery)
    finally:
        _flush(ctx)
    if stop.is_set():
        return IngestResult(total, interrupted=True)  # keep the recovery store: resume later
    shutil.rmtree(recovery, ignore_errors=True)  # finished: nothing left to resume
    _optimize(ctx)
    return IngestResult(total)


def _execute(flow: object, settings: Settings, workers: int, recovery: Path) -> None:
    from bytewax.recovery import RecoveryConfig, init_db_dir
    from bytewax.testing import cluster_main, run_main

    if workers < 1:
        raise UserError("--workers must be 1 or more")
    if not recovery.exists():
        recovery.mkdir(parents=True)
        init_db_dir(recovery, 1)
    config = RecoveryConfig(recovery)
    epoch = timedelta(seconds=settings.epoch_seconds)
    if workers == 1:
        run_main(flow, epoch_interval=epoch, recovery_config=config)
    else:
        cluster_main(
            flow,
            [],
            0,
            epoch_interval=epoch,
            recovery_config=config,
            worker_count_per_proc=workers,
        )


def recovery_dir(specs: list[InputSpec], settings: Settings) -> Path:
    """One recovery store per set of inputs and target, so runs of other inputs never mix."""
    key = json.dumps(
        [[s.kind, str(Path(s.target).resolve()) if s.kind == "path" else s.target] for s in specs]
        + [settings.qdrant_url or str(settings.shard_dir.resolve()), settings.collection]
    )
    return settings.recovery_root / hashlib.sha256(key.encode()).hexdigest()[:16]


def _flush(ctx: PipelineContext) -> None:
    ctx.store.flush()


def _optimize(ctx: PipelineContext) -> None:
    ctx.store.optimize_if_backlogged()

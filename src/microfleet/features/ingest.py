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
from microfleet.documents.titles import Titler
from microfleet.errors import UserError
from microfleet.features.chunking import Chunker, load_generator_tokenizer
from microfleet.features.dataflow import build_flow
from microfleet.features.guard import InjectionScreen
from microfleet.features.journal import WriteJournal
from microfleet.features.pipeline import DeadLetter, EmbedContext, IngestStats, PipelineContext
from microfleet.features.sources.specs import InputSpec
from microfleet.knowledge.connect import open_store
from microfleet.knowledge.embedding import load_embedder
from microfleet.knowledge.sparse import Bm25Encoder
from microfleet.micromodel.spec import load_fleet

log = logging.getLogger("microfleet.ingest")


@dataclass
class IngestResult:
    stats: IngestStats
    interrupted: bool = False
    processes: int = 1  # how many processes embedded batches


def load_embed_context(settings: Settings) -> EmbedContext:
    """The embedder, BM25 and the injection screen: all a cluster's non-writing process loads."""
    embedder = load_embedder(
        settings.embedding_model,
        settings.embed_batch_size,
        settings.embedding_runtime,
        settings.model_cache_dir / "onnx",
    )
    screen = (
        InjectionScreen.load(threshold=settings.injection_threshold)
        if settings.injection_screen
        else None
    )
    return EmbedContext(embedder=embedder, sparse=Bm25Encoder(), screen=screen)


def load_context(settings: Settings) -> PipelineContext:
    """Load the tokenizer, the embedder and the store once for the whole process."""
    tokenizer = load_generator_tokenizer(settings.model_cache_dir)
    chunker = Chunker(tokenizer, settings.chunk_tokens, settings.chunk_overlap)
    embed = load_embed_context(settings)
    embedder = embed.embedder
    store = open_store(settings, embedder.dim)
    journal = WriteJournal(settings.journal_dir)
    repaired = journal.repair(store)  # a writer killed mid-write left these half replaced
    if repaired:
        log.warning("repaired %d documents a killed ingest left half written", repaired)
    return PipelineContext(
        chunker=chunker,
        embedder=embedder,
        sparse=embed.sparse,
        store=store,
        dead_letter=DeadLetter(settings.dead_letter_path),
        max_bytes=int(settings.max_document_mb * 1_000_000),
        journal=journal,
        screen=embed.screen,
        titler=fleet_titler(settings),
    )


def fleet_titler(settings: Settings) -> Titler:
    """The fleet's title rules, where a fleet file exists (a knowledge base needs none)."""
    if not settings.fleet.exists():
        return Titler()
    return Titler(load_fleet(settings.fleet).documents)


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
        execute_flow(flow, settings, workers or settings.workers, recovery)
    finally:
        _flush(ctx)
    if stop.is_set():
        return IngestResult(total, interrupted=True)  # keep the recovery store: resume later
    shutil.rmtree(recovery, ignore_errors=True)  # finished: nothing left to resume
    _optimize(ctx)
    return IngestResult(total)


def execute_flow(
    flow: object,
    settings: Settings,
    workers: int,
    recovery: Path,
    addresses: list[str] | None = None,
    index: int = 0,
) -> None:
    """Run the flow here, or as process `index` of the cluster at `addresses`."""
    from bytewax.recovery import RecoveryConfig
    from bytewax.testing import cluster_main, run_main

    if workers < 1:
        raise UserError("--workers must be 1 or more")
    open_recovery(recovery)
    config = RecoveryConfig(recovery)
    epoch = timedelta(seconds=settings.epoch_seconds)
    if workers == 1 and not addresses:
        run_main(flow, epoch_interval=epoch, recovery_config=config)
    else:
        cluster_main(
            flow,
            addresses or [],
            index,
            epoch_interval=epoch,
            recovery_config=config,
            worker_count_per_proc=workers,
        )


def open_recovery(recovery: Path) -> None:
    """Create the recovery store on first use (a cluster's supervisor does it before starting
    its processes, so that they never race to create it)."""
    from bytewax.recovery import init_db_dir

    if not recovery.exists():
        recovery.mkdir(parents=True)
        init_db_dir(recovery, 1)


def recovery_dir(specs: list[InputSpec], settings: Settings, cluster: bool = False) -> Path:
    """One recovery store per set of inputs and target, so runs of other inputs never mix; a
    cluster's flow has other steps than one process's, so it keeps a store of its own."""
    key = json.dumps(
        [[s.kind, str(Path(s.target).resolve()) if s.kind == "path" else s.target] for s in specs]
        + [settings.qdrant_url or str(settings.shard_dir.resolve()), settings.collection]
        + (["cluster"] if cluster else [])
    )
    return settings.recovery_root / hashlib.sha256(key.encode()).hexdigest()[:16]


def _flush(ctx: PipelineContext) -> None:
    ctx.store.flush()


def _optimize(ctx: PipelineContext) -> None:
    ctx.store.optimize_if_backlogged()

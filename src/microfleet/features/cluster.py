"""`ingest --processes N`: one Bytewax dataflow run by N processes on 127.0.0.1.

A supervisor starts the processes (`python -m microfleet.features.cluster`), relays the writer's
counts to the caller, forwards a stop, and ends them all if one fails. Process 0 is the writer:
it holds the store, reads the inputs, prepares and writes; every process embeds.
"""

from __future__ import annotations

import argparse
import json
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from microfleet.config import Settings
from microfleet.errors import MicrofleetError, UserError
from microfleet.features.dataflow import build_cluster_flow
from microfleet.features.ingest import (
    IngestResult,
    execute_flow,
    load_context,
    load_embed_context,
    open_recovery,
    recovery_dir,
)
from microfleet.features.pipeline import EmbedContext, IngestStats
from microfleet.features.sources import resolve_inputs

Report = Callable[[IngestStats], None]


@dataclass(frozen=True)
class ClusterPlan:
    """What every process of one cluster run is told."""

    inputs: list[str]
    processes: int
    workers: int = 1  # Bytewax workers per process
    follow: bool = False


def run_cluster(
    plan: ClusterPlan, settings: Settings, on_batch: Report, stop: threading.Event
) -> IngestResult:
    """Blocks until the inputs are exhausted or `stop` is set. The processes read their
    settings from this environment, as `settings` was. Resumes a killed run."""
    if plan.processes < 2:
        raise UserError("--processes must be 2 or more for a cluster")
    recovery = recovery_dir(resolve_inputs(plan.inputs), settings, cluster=True)
    open_recovery(recovery)
    addresses = [f"127.0.0.1:{_free_port()}" for _ in range(plan.processes)]
    with tempfile.TemporaryDirectory(prefix="microfleet-cluster-") as logs:
        procs = [_spawn(plan, i, addresses, recovery, Path(logs)) for i in range(plan.processes)]
        relayed = _Relayed()
        try:
            _relay(procs, on_batch, stop, relayed)
        finally:
            killed = _end(procs, relayed.failed)
        _raise_if_failed(procs, killed, Path(logs))
    if not relayed.interrupted:
        shutil.rmtree(recovery, ignore_errors=True)  # finished: nothing left to resume
    return IngestResult(relayed.total, relayed.interrupted, len(relayed.embedders))


def _spawn(
    plan: ClusterPlan, index: int, addresses: list[str], recovery: Path, logs: Path
) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "microfleet.features.cluster", "--index", str(index)]
    args += ["--addresses", ";".join(addresses), "--workers", str(plan.workers)]
    args += ["--recovery", str(recovery)] + (["--follow"] if plan.follow else [])
    # A session of its own: a terminal's Ctrl-C reaches the supervisor alone, which forwards
    # one stop to the writer.
    with (logs / f"{index}.log").open("w") as log:
        return subprocess.Popen(
            [*args, "--", *plan.inputs],
            stdin=None if index == 0 else subprocess.DEVNULL,
            stdout=subprocess.PIPE if index == 0 else subprocess.DEVNULL,
            stderr=log,
            text=True,
            start_new_session=True,
        )


@dataclass
class _Relayed:
    total: IngestStats = field(default_factory=IngestStats)
    embedders: set[int] = field(default_factory=set)  # the processes that embedded batches
    interrupted: bool = False
    failed: bool = True  # until the writer's counts end


def _relay(
    procs: list[subprocess.Popen[str]], on_batch: Report, stop: threading.Event, out: _Relayed
) -> None:
    """Hand the writer's counts on as they come; stop the writer once when asked."""
    lines: queue.Queue[str | None] = queue.Queue()
    assert procs[0].stdout is not None
    threading.Thread(target=_pump, args=(procs[0].stdout, lines), daemon=True).start()
    while not any(p.poll() not in (None, 0) for p in procs):  # else one failed
        if stop.is_set() and not out.interrupted:
            procs[0].send_signal(signal.SIGINT)
            out.interrupted = True
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:  # the writer is done
            out.failed = False
            return
        message = json.loads(line)
        if "batch" in message:
            stats = IngestStats(**message["batch"])
            out.total.add(stats)
            out.embedders.add(message["embedder"])
            on_batch(stats)
        out.interrupted = bool(message.get("interrupted", out.interrupted))


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        if line.startswith("{"):
            lines.put(line)
    lines.put(None)


def _end(procs: list[subprocess.Popen[str]], failed: bool) -> set[int]:
    """The others end with the writer's flow; after a failure, nothing waits long. Returns the
    indexes of the processes that had to be killed."""
    killed = set()
    for index, proc in enumerate(procs):
        try:
            proc.wait(timeout=2 if failed else 120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            killed.add(index)
    return killed


def _raise_if_failed(procs: list[subprocess.Popen[str]], killed: set[int], logs: Path) -> None:
    """Name the process that failed first: the one that exited with an error by itself."""
    failed = [i for i, p in enumerate(procs) if p.returncode != 0 and i not in killed]
    if not failed and not killed:
        return
    index = failed[0] if failed else min(killed)
    text = (logs / f"{index}.log").read_text(errors="replace").strip().splitlines()
    last = text[-1] if text else f"exit status {procs[index].returncode}"
    raise UserError(f"ingest process {index} of the cluster failed: {last}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _emit(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _run_writer(args: argparse.Namespace, settings: Settings) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    ctx = load_context(settings)
    embed = EmbedContext(ctx.embedder, ctx.sparse, ctx.screen)
    specs = resolve_inputs(args.inputs)

    def report(stats: IngestStats, embedder: int) -> None:
        _emit({"batch": stats.as_dict(), "embedder": embedder})

    flow = build_cluster_flow(specs, settings, embed, ctx, report, args.follow, stop)
    with ctx.store:
        try:
            execute_flow(flow, settings, args.workers, args.recovery, args.addresses, 0)
        finally:
            ctx.store.flush()
        if not stop.is_set():
            ctx.store.optimize_if_backlogged()
    _emit({"interrupted": stop.is_set()})


def _run_embedder(args: argparse.Namespace, settings: Settings) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the writer's flow decides when this ends
    embed = load_embed_context(settings)
    specs = resolve_inputs(args.inputs)
    flow = build_cluster_flow(specs, settings, embed, None, lambda *_: None, args.follow)
    execute_flow(flow, settings, args.workers, args.recovery, args.addresses, args.index)


def main(argv: list[str] | None = None) -> None:
    """One process of the cluster; started by `run_cluster`, not by hand."""
    parser = argparse.ArgumentParser(prog="python -m microfleet.features.cluster")
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--addresses", type=lambda text: text.split(";"), required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--recovery", type=Path, required=True)
    parser.add_argument("--follow", action="store_true")
    parser.add_argument("inputs", nargs="+")
    args = parser.parse_args(argv)
    try:
        settings = Settings()
        if args.index == 0:
            _run_writer(args, settings)
        else:
            _run_embedder(args, settings)
    except MicrofleetError as exc:  # one line for the supervisor to pass on
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()

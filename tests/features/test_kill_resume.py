"""kill -9 mid-ingest, run again: exactly the expected points, no duplicates, none missing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from microfleet.config import Settings
from microfleet.features.chunking import chunk_point_id
from microfleet.knowledge.edge import EdgeVectorStore

N_DOCS = 2200


def _snapshots(recovery_root: Path) -> int:
    """How many source snapshots Bytewax has committed (read-only peek at its SQLite store)."""
    total = 0
    for db in recovery_root.glob("*/part-*.sqlite3"):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1) as conn:
                total += conn.execute(
                    "SELECT count(*) FROM snaps WHERE ser_change IS NOT NULL"
                ).fetchone()[0]
        except sqlite3.Error:
            pass
    return total


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "microfleet.cli", *args]


@pytest.mark.slow
def test_killed_ingest_resumes_to_the_exact_point_set(
    tmp_path: Path, settings: Settings, subprocess_env: dict[str, str]
) -> None:
    corpus = tmp_path / "many.jsonl"
    with corpus.open("w") as fh:
        for i in range(N_DOCS):
            text = f"Bulletin {i}: company {i % 97} reported quarterly sales up {i % 13} percent."
            fh.write(json.dumps({"id": f"doc-{i}", "title": f"Bulletin {i}", "text": text}) + "\n")
    env = dict(subprocess_env, MICROFLEET_BATCH_DOCS="40")

    proc = subprocess.Popen(
        _cli("ingest", str(corpus), "--json"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 240
    while (
        time.monotonic() < deadline
        and proc.poll() is None
        and not _snapshots(settings.recovery_root)
    ):
        time.sleep(0.05)
    time.sleep(2.0)  # let it write some batches past the first committed snapshot
    assert proc.poll() is None, "the ingest finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    with EdgeVectorStore(settings.shard_dir, 384) as store:
        partial = store.count()
    assert 0 < partial < N_DOCS, partial

    rerun = subprocess.run(
        _cli("ingest", str(corpus), "--json"), env=env, capture_output=True, text=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert summary["failed"] == 0
    # Resumed from the recovery store: records before the last snapshot are not read again.
    assert summary["documents"] + summary["unchanged"] < N_DOCS

    with EdgeVectorStore(settings.shard_dir, 384) as store:
        ids = store.point_ids()
    expected = {chunk_point_id(f"doc-{i}", 0) for i in range(N_DOCS)}
    assert len(ids) == len(set(ids))
    assert set(ids) == expected


# A real process that ingests version 1 of a long document, then version 2 (fewer chunks),
# and is killed -9 by its own store between version 2's upsert and the deletion of version
# 1's leftover chunks: the write phase's worst moment.
KILL_IN_WRITE = """
import os, signal, sys
from microfleet.config import Settings
from microfleet.documents.parse import RawRecord
from microfleet.features.ingest import load_context
from microfleet.features.pipeline import run_steps

ctx = load_context(Settings())
long_text = " ".join(f"Sentence {i} of the first version." for i in range(400))
run_steps([RawRecord(ref="v1", fields={"id": "doc", "text": long_text})], ctx)
print(ctx.store.count(), flush=True)
ctx.store.delete_stale = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
run_steps([RawRecord(ref="v2", fields={"id": "doc", "text": "The second version."})], ctx)
"""


def test_kill_in_the_write_phase_is_repaired_at_start(
    settings: Settings, subprocess_env: dict[str, str]
) -> None:
    from microfleet.features.ingest import load_context

    proc = subprocess.run(
        [sys.executable, "-c", KILL_IN_WRITE], env=subprocess_env, capture_output=True, text=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    first_version_chunks = int(proc.stdout.split()[0])
    assert first_version_chunks > 2
    with EdgeVectorStore(settings.shard_dir, 384) as store:  # as the kill left it
        hashes = {p["doc_hash"] for p in store.payloads()}
        assert len(hashes) == 2 and store.count() == first_version_chunks  # two versions
    counter = (settings.shard_dir / "microfleet_version").read_text()
    assert counter.strip().isdigit()  # replaced whole, never left empty

    ctx = load_context(settings)  # the start-up check
    try:
        payloads = ctx.store.payloads()
        assert [p["text"] for p in payloads] == ["The second version."]
        assert not list(settings.journal_dir.glob("*.json"))
    finally:
        ctx.store.close()

"""`ingest --processes 2`: a real two-process Bytewax cluster on 127.0.0.1, against one process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from microfleet.config import Settings
from microfleet.knowledge.connect import open_store
from tests.conftest import CORPUS


def _ingest(env: dict[str, str], home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microfleet.cli", "ingest", "--json", *args],
        env={**env, "MICROFLEET_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=600,
    )


def _points(settings: Settings, home: Path) -> list[tuple[str, Any, Any, Any]]:
    with open_store(settings.model_copy(update={"home": home}), 384) as store:
        return [
            (pid, p["doc_id"], p["chunk_index"], p["text"])
            for pid, p in store.scroll_all(with_payload=True)
        ]


def test_two_processes_write_the_points_one_process_writes(
    settings: Settings, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    inputs = [str(CORPUS / "news.jsonl"), str(CORPUS / "vat_rates_eu.md")]
    env = {**subprocess_env, "MICROFLEET_BATCH_DOCS": "4"}  # batches enough for both processes
    one = _ingest(env, tmp_path / "one", *inputs)
    two = _ingest(env, tmp_path / "two", "--processes", "2", *inputs)
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-2000:]
    stats = json.loads(two.stdout.splitlines()[-1])
    assert stats.pop("processes") == 2  # both embedded batches
    assert stats == json.loads(one.stdout.splitlines()[-1])
    assert stats["documents"] == 44 and stats["failed"] == 0

    single, cluster = _points(settings, tmp_path / "one"), _points(settings, tmp_path / "two")
    ids = [p[0] for p in cluster]
    assert len(ids) == len(set(ids)) == stats["chunks"]  # none twice
    assert sorted(cluster) == sorted(single)  # none lost, none changed

    again = _ingest(env, tmp_path / "two", "--processes", "2", *inputs)
    assert json.loads(again.stdout.splitlines()[-1]) | {"processes": 0} == {
        "processes": 0,
        "documents": 0,
        "chunks": 0,
        "failed": 0,
        "unchanged": 44,
    }


def test_a_process_that_fails_is_named_and_nothing_hangs(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**subprocess_env, "MICROFLEET_EMBEDDING_MODEL": str(tmp_path / "no-such-model")}
    run = _ingest(env, tmp_path / "home", "--processes", "2", str(CORPUS / "news.jsonl"))
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr
    assert lines[0].startswith("error: ingest process") and "of the cluster failed" in lines[0]

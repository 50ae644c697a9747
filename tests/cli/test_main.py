"""The CLI contracts of DESIGN.md, run as a real subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import CORPUS


def _run(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microfleet.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ingest_search_and_stats_json_contracts(subprocess_env: dict[str, str]) -> None:
    result = _run(subprocess_env, "ingest", str(CORPUS), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {"documents": 44, "chunks": summary["chunks"], "failed": 0, "unchanged": 0}

    result = _run(subprocess_env, "search", "lowest VAT rate in the EU", "--k", "3", "--json")
    hits = json.loads(result.stdout)
    assert len(hits) == 3
    assert set(hits[0]) == {"doc_id", "chunk_id", "score", "title", "url", "text"}
    assert hits[0]["doc_id"].endswith("vat_rates_eu.md")

    stats = json.loads(_run(subprocess_env, "kb", "stats", "--json").stdout)
    assert stats == {"documents": 44, "chunks": summary["chunks"]}
    assert "Traceback" not in result.stderr


def test_stdin_jsonl_and_exit_codes(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    doc = json.dumps({"id": "s1", "title": "Stdin", "text": "Oil prices fell on Monday."})
    result = _run(subprocess_env, "ingest", "-", "--json", stdin=doc + "\nnot json\n")
    assert result.returncode == 0
    assert json.loads(result.stdout.splitlines()[-1])["failed"] == 1

    result = _run(subprocess_env, "ingest", "-", "--json", stdin="not json\n")
    assert result.returncode == 1  # nothing ingested or unchanged

    result = _run(subprocess_env, "ingest", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: no such file or directory: {tmp_path / 'nope'}"


def test_follow_stops_cleanly_on_ctrl_c(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        "<item><guid>g1</guid><title>Gold rises</title><description>Gold rose.</description></item>"
        "</channel></rss>"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "microfleet.cli", "ingest", str(feed), "--follow"],
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    home = Path(subprocess_env["MICROFLEET_HOME"])
    while time.monotonic() < deadline and not (home / "qdrant").exists():
        time.sleep(0.2)
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "ingested 1 documents" in out and "stopped by Ctrl-C" in out
    assert "Traceback" not in err

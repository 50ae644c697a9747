"""`microfleet feedback list|export` as a real subprocess over a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

from microfleet.config import Settings
from microfleet.feedback.store import AnswerRecord, FeedbackStore
from tests.cli.test_main import _run


def test_feedback_list_and_export(
    settings: Settings, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    empty = _run(subprocess_env, "feedback", "list")
    assert empty.returncode == 0 and "no feedback yet" in empty.stdout

    store = FeedbackStore(settings.feedback_db_url)
    trace = {"calls": [{"name": "tax_rates", "arguments": {"country": "Malta"}, "output": "18%"}]}
    store.record(AnswerRecord("r1", "fleet", "VAT in Malta?", "18%", [], trace))
    store.record(AnswerRecord("r2", "personal_finance", "Save how?", "Spend less.", []))
    store.add("r1", 1, None, None)
    store.add("r2", -1, "Automate saving first.", "too short; mail me at jo@example.com")
    store.close()

    listed = _run(subprocess_env, "feedback", "list", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["rating"], r["response_id"]) for r in rows] == [(2, -1, "r2"), (1, 1, "r1")]
    assert rows[0]["correction"] == "Automate saving first."
    assert rows[1]["response"]["trace"] == trace

    only = _run(subprocess_env, "feedback", "list", "--json", "--micromodel", "tax_rates")
    assert [r["id"] for r in json.loads(only.stdout)] == [1]
    table = _run(subprocess_env, "feedback", "list")
    assert "Automate" in table.stdout and "+1" in table.stdout  # rich wraps to the terminal

    lines = _run(subprocess_env, "feedback", "export").stdout.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [2, 1]
    out = tmp_path / "feedback.json"
    wrote = _run(subprocess_env, "feedback", "export", "--json", "-o", str(out))
    assert wrote.returncode == 0 and "2 feedback entries" in wrote.stderr
    exported = json.loads(out.read_text())
    assert len(exported) == 2
    assert exported[0]["comment"] == "too short; mail me at <EMAIL_ADDRESS>"  # PII redacted

"""`microfleet eval retrieval` end to end over the sample corpus, as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from microfleet.core.glossary import Glossary
from microfleet.evaluation.retrieval import as_searched
from tests.conftest import CORPUS, REPO

RETRIEVAL_SET = REPO / "fleets" / "finance" / "eval" / "retrieval.jsonl"


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microfleet.cli", *args],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_eval_retrieval_over_the_sample_corpus(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    assert _cli(subprocess_env, "ingest", str(CORPUS), "--json").returncode == 0
    rows = RETRIEVAL_SET.read_text().splitlines()
    assert len(rows) >= 50
    labelled = tmp_path / "set.jsonl"  # the team's set, a malformed line and an unknown id
    extra = ['{"question": "broken', '{"question": "What?", "relevant_ids": ["no-such-doc"]}']
    labelled.write_text("\n".join([*rows, *extra]) + "\n")

    result = _cli(subprocess_env, "eval", "retrieval", str(labelled), "--k", "5", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == len(rows) + 1 and report["k"] == 5 and report["missing_ids"] == 1
    assert report["skipped"] == [f"line {len(rows) + 1}: " + report["skipped"][0].split(": ", 1)[1]]
    for mode in ("hybrid", "dense", "sparse"):
        assert set(report[mode]) == {"hit@1", "hit@3", "hit@k", "mrr@10", "recall@k"}
        assert report[mode]["hit@1"] <= report[mode]["hit@3"] <= report[mode]["hit@k"]
    # Hybrid finds at least what dense-only finds in the top 3 and top k.
    for metric in ("hit@3", "recall@k"):
        assert report["hybrid"][metric] >= report["dense"][metric]
    assert report["hybrid"]["hit@k"] > 0.9  # the labelled set is answerable from the corpus
    assert report["sparse"]["hit@1"] < report["hybrid"]["hit@1"]
    assert report["mlflow_run_id"]

    table = _cli(subprocess_env, "eval", "retrieval", str(RETRIEVAL_SET), "--no-track")
    assert table.returncode == 0 and "hybrid" in table.stdout and "mrr@10" in table.stdout


def test_an_empty_set_exits_1_with_a_message(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"not": "a question"}\n\n')
    result = _cli(subprocess_env, "eval", "retrieval", str(empty), "--json")
    assert result.returncode == 1
    assert "no valid question" in result.stderr and "Traceback" not in result.stderr


def test_a_question_is_searched_with_the_glossarys_long_forms() -> None:
    rows = [{"question": "Did Apple buy back shares?", "relevant_ids": ["a"]}, {"question": "Why?"}]
    searched = as_searched(rows, Glossary({"buy back": "repurchase"}))
    assert searched[0] == {
        "question": "Did Apple buy back (repurchase) shares?",
        "relevant_ids": ["a"],
    }
    assert (
        searched[1] == {"question": "Why?"} and rows[0]["question"] == "Did Apple buy back shares?"
    )

"""`microfleet eval answers` and `eval routing` as real subprocesses on small subsets (CI smoke)."""

from __future__ import annotations

import json
from pathlib import Path

from microfleet.evaluation.answers import Answered, score
from tests.conftest import CORPUS, REPO
from tests.evaluation.test_retrieval import _cli

SETS = REPO / "fleets" / "finance"


def test_scores_by_hand() -> None:
    answered = [Answered("It is 19%.", "Germany: 19%", 0.1, 4), Answered("", "", 0.3, 0)]
    report = score(answered, [["19 percent"], ["20%"]], wall_s=2.0)
    assert report["numeric_match"] == 0.5 and report["numeric_questions"] == 2
    assert report["answer_rate"] == 0.5 and report["tokens_per_s"] == 2.0
    assert report["faithfulness"] == 1.0  # "19" is in the context; the empty answer has none
    assert report["latency_p50_ms"] == 200.0 and report["latency_p95_ms"] == 300.0


def test_eval_answers_with_rag_on_a_subset(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    assert _cli(subprocess_env, "ingest", str(CORPUS), "--json").returncode == 0
    subset = tmp_path / "answers.jsonl"
    lines = (SETS / "eval" / "answers.jsonl").read_text().splitlines()
    assert len(lines) >= 40
    subset.write_text("\n".join([lines[0], lines[6], "{oops", lines[-1]]) + "\n")
    result = _cli(
        subprocess_env, "eval", "answers", str(subset), "--mode", "rag", "--max-tokens", "12",
        "--json", "--no-track",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (
        report["n"] == 3 and report["mode"] == "rag" and report["skipped"][0].startswith("line 3")
    )
    for key in ("exact_match", "f1", "numeric_match", "rouge_l", "faithfulness", "answer_rate"):
        assert 0.0 <= report[key] <= 1.0, key
    assert report["latency_p50_ms"] > 0 and report["tokens_per_s"] > 0

    refused = _cli(subprocess_env, "eval", "answers", str(subset), "--mode", "finetuned")
    assert refused.returncode == 2 and "registered adapter" in refused.stderr


def test_eval_routing_semantic_on_a_subset(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    subset = tmp_path / "routing.jsonl"
    rows = (SETS / "routing.jsonl").read_text().splitlines()[::6]
    subset.write_text("\n".join(rows) + "\n")
    result = _cli(
        subprocess_env, "eval", "routing", str(subset), "--routers", "semantic", "--json"
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["semantic"]["n"] == len(rows) and report["semantic"]["accuracy"] >= 0.8
    assert report["mlflow_run_id"]


def test_eval_answers_asks_the_fleet_as_served(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    """--model fleet: routing, micromodels and the answer as users get it, scored on the facts
    (one news question, one typed tax question, one follow-up asked after its question)."""
    assert _cli(subprocess_env, "ingest", str(CORPUS), "--json").returncode == 0
    subset = tmp_path / "fleet.jsonl"
    news = (SETS / "eval" / "news_answers.jsonl").read_text().splitlines()
    tax = (SETS / "eval" / "answers.jsonl").read_text().splitlines()
    talk = (SETS / "eval" / "conversations.jsonl").read_text().splitlines()
    subset.write_text("\n".join([news[6], tax[0], talk[0]]) + "\n")  # Halcyon; Austria; France
    result = _cli(
        subprocess_env, "eval", "answers", str(subset), "--model", "fleet", "--json", "--no-track"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["model"] == "fleet" and report["mode"] == "served" and report["n"] == 3
    assert report["numeric_match"] == 1.0 and report["answer_rate"] == 1.0

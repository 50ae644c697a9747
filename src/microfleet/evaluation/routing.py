"""`eval routing`: does a router pick the labelled micromodels, with the labelled arguments?

Selection is right when the set of micromodels called equals the labelled set. Arguments are
scored where the label gives them (enum values such as a country; free text has no single right
answer): right when the calls to each labelled micromodel, read on the labelled keys, are
exactly the labelled ones (the EU question: all 27 countries, no more).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from microfleet.evaluation.metrics import percentile
from microfleet.fleet.router import Plan, Router


def selection_right(row: dict[str, Any], plan: Plan) -> bool:
    return {c["name"] for c in row["calls"]} == {c.name for c in plan.calls}


def arguments_right(row: dict[str, Any], plan: Plan) -> bool | None:
    """None when the label gives no arguments."""
    labelled = [c for c in row["calls"] if c.get("arguments")]
    if not labelled:
        return None
    for name in {c["name"] for c in labelled}:
        keys = sorted({k for c in labelled if c["name"] == name for k in c["arguments"]})
        wanted = {_project(c["arguments"], keys) for c in labelled if c["name"] == name}
        got = {_project(c.arguments, keys) for c in plan.calls if c.name == name}
        if wanted != got:
            return False
    return True


def _project(arguments: dict[str, Any], keys: list[str]) -> str:
    return json.dumps({k: arguments.get(k) for k in keys}, sort_keys=True)


async def evaluate_router(
    router: Router, rows: list[dict[str, Any]], progress: Callable[[], None] | None = None
) -> dict[str, Any]:
    selected, argued, latencies = [], [], []
    valid = total = 0
    for row in rows:
        started = time.perf_counter()
        plan = await router.plan(row["question"])
        latencies.append(time.perf_counter() - started)
        selected.append(selection_right(row, plan))
        if (right := arguments_right(row, plan)) is not None:
            argued.append(right)
        valid += len(plan.calls)
        total += len(plan.calls) + len(plan.dropped)
        if progress:
            progress()
    latencies.sort()
    return {
        "n": len(rows),
        "accuracy": statistics.fmean(selected),
        "argument_accuracy": statistics.fmean(argued) if argued else None,
        "argument_questions": len(argued),
        "valid_calls": valid / total if total else 1.0,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
    }

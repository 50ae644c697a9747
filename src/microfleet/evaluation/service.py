"""What `microfleet eval` calls: load the set, run the evaluation, log it to MLflow."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from microfleet.config import Settings
from microfleet.errors import UserError
from microfleet.evaluation.answers import (
    DEFAULT_PROMPT,
    MODES,
    Answered,
    Setup,
    answer_all,
    ask_all,
    score,
)
from microfleet.evaluation.data import answer_row, load_set, retrieval_row, routing_row
from microfleet.evaluation.retrieval import as_searched, evaluate_retrieval
from microfleet.evaluation.routing import evaluate_router
from microfleet.micromodel.spec import FLEET_MODEL, FleetSpec

Progress = Callable[[str, int], Callable[[], None]]  # (label, total) -> tick


def eval_retrieval(settings: Settings, path: Path, k: int, progress: Progress) -> dict[str, Any]:
    from microfleet.knowledge.service import fleet_glossary, open_search

    labelled = load_set(path, retrieval_row)
    rows = as_searched(labelled.rows, fleet_glossary(settings))
    with open_search(settings) as search:
        tick = progress("questions", len(rows))
        report = evaluate_retrieval(search, rows, k, lambda _: tick())
    return {**report, "skipped": labelled.skipped}


def eval_answers(
    settings: Settings,
    path: Path,
    model: str | None,
    mode: str,
    max_tokens: int,
    progress: Progress,
) -> dict[str, Any]:
    labelled = load_set(path, answer_row)
    runtime, fleet = open_runtime(settings)
    questions = [row["question"] for row in labelled.rows]
    references = [row["answers"] for row in labelled.rows]
    try:
        if model == FLEET_MODEL:  # the orchestrator, as users ask it: --mode does not apply
            mode = "served"
            asked = [[*row["before"], row["question"]] for row in labelled.rows]
            answered, wall = _ask_fleet(runtime, asked, max_tokens, progress)
            report = score(answered, references, wall)
        else:
            setup = setup_for(runtime, fleet, model, mode)
            report = run_setup(runtime, setup, questions, references, max_tokens, progress)
    finally:
        asyncio.run(runtime.close())
    return {
        "model": model or runtime.base_name,
        "mode": mode,
        **report,
        "skipped": labelled.skipped,
    }


def eval_routing(
    settings: Settings, path: Path, routers: list[str], progress: Progress
) -> dict[str, Any]:
    from microfleet.inference.runtime import make_router

    labelled = load_set(path, routing_row)
    runtime, fleet = open_runtime(settings)
    report: dict[str, Any] = {"n": len(labelled.rows), "skipped": labelled.skipped}
    try:
        search = runtime.assistant.search
        for name in routers:
            router = make_router(
                settings.model_copy(update={"router": name}), fleet, search, runtime.engine
            )
            tick = progress(f"router {name}", len(labelled.rows))
            report[name] = asyncio.run(evaluate_router(router, labelled.rows, tick))
    finally:
        asyncio.run(runtime.close())
    return report


def setup_for(runtime: Any, fleet: FleetSpec, model: str | None, mode: str) -> Setup:
    """--model names the base model or a micromodel; --mode adds retrieval and/or its adapter."""
    if mode not in MODES:
        raise UserError(f"--mode must be one of {', '.join(MODES)}")
    routes = runtime.assistant.routes
    spec = next((s for s in fleet.micromodels if s.name == model), None)
    if model and spec is None and model not in routes:
        raise UserError(f"unknown model '{model}'; known: {', '.join(sorted(routes))}")
    name = model or runtime.base_name
    tuned = mode in ("finetuned", "both")
    if tuned and (spec is None or not routes[name].champion):
        raise UserError(
            f"--mode {mode} needs a micromodel with a registered adapter; "
            f"train and promote one first (microfleet fleet train)"
        )
    generator = routes[name if tuned or spec is None else runtime.base_name].generator
    rag = mode in ("rag", "both")
    return Setup(
        label=f"{'fine-tuned' if tuned else 'base'} {'with' if rag else 'without'} RAG",
        generator=generator,
        system_prompt=spec.system_prompt if spec else DEFAULT_PROMPT,
        rag=rag,
        scope=spec.scope.as_filter() if spec else None,
        schema=spec.returns if spec else None,
    )


def run_setup(
    runtime: Any,
    setup: Setup,
    questions: list[str],
    references: list[list[str]],
    max_tokens: int,
    progress: Progress,
) -> dict[str, Any]:
    tick = progress(setup.label, len(questions))
    search = runtime.assistant.search
    answered, wall = asyncio.run(answer_all(setup, questions, search, max_tokens, progress=tick))
    return score(answered, references, wall)


def _ask_fleet(
    runtime: Any, conversations: list[list[str]], max_tokens: int, progress: Progress
) -> tuple[list[Answered], float]:
    """The orchestrator's answers to each conversation's last question, as users get them
    (the earlier ones asked and answered first), and their wall time."""
    if FLEET_MODEL not in runtime.assistant.routes:
        raise UserError("--model fleet needs a fleet file with micromodels (MICROFLEET_FLEET)")
    tick = progress(FLEET_MODEL, len(conversations))
    return asyncio.run(
        ask_all(runtime.assistant, FLEET_MODEL, conversations, max_tokens, progress=tick)
    )


def open_runtime(settings: Settings) -> tuple[Any, FleetSpec]:
    from microfleet.inference.runtime import build_runtime
    from microfleet.training.service import fleet_of

    fleet = fleet_of(settings)
    return build_runtime(settings.model_copy(update={"cache": False})), fleet


def log_evaluation(
    settings: Settings,
    fleet_name: str,
    kind: str,
    report: dict[str, Any],
    artifacts: Sequence[Path] = (),
) -> str:
    """One MLflow run (experiment microfleet-<fleet>): the numeric figures, the report, files."""
    import mlflow

    from microfleet.training.registry import experiment_id, tracking

    client = tracking(settings)
    with mlflow.start_run(
        experiment_id=experiment_id(client, settings, fleet_name), run_name=f"eval-{kind}"
    ) as run:
        mlflow.set_tag("microfleet.evaluation", kind)
        mlflow.log_metrics(_flat_metrics(report))
        mlflow.log_dict(report, f"eval-{kind}.json")
        for path in artifacts:
            mlflow.log_artifact(str(path))
        return str(run.info.run_id)


def _flat_metrics(report: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in report.items():
        name = re.sub(r"[^\w./ -]", "_", f"{prefix}{key}".replace("@", "_at_"))
        if isinstance(value, dict):
            out.update(_flat_metrics(value, f"{name}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = float(value)
    return out

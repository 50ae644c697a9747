"""One tracked training run: load data and base model, train LoRA, log to MLflow, register."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from microfleet.config import Settings
from microfleet.llm.base_model import BASE_MODEL_ID, load_base_model, native_bf16
from microfleet.micromodel.spec import FleetSpec, MicromodelSpec
from microfleet.training.dataset import QAPair, load_split
from microfleet.training.metrics import answer_metric
from microfleet.training.registry import experiment_id, register_version, tracking
from microfleet.training.trainer import (
    TrainResult,
    attach_lora,
    autocast,
    generate_answers,
    train_lora,
)

SAMPLES = 5


@dataclass
class RunSummary:
    run_id: str
    version: str
    result: TrainResult


def run_training(
    settings: Settings,
    fleet: FleetSpec,
    spec: MicromodelSpec,
    epochs: int | None = None,
    max_steps: int | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> RunSummary:
    """Train and register `spec`; Ctrl-C or an error leaves the run KILLED/FAILED, unregistered."""
    import mlflow

    directory = settings.dataset_dir(spec.name)
    train, test = load_split(directory, "train"), load_split(directory, "test")
    meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    client = tracking(settings)
    model, tokenizer = load_base_model(
        settings.base_model, settings.model_cache_dir, qlora=spec.lora.qlora
    )
    quantized = bool(getattr(model, "is_loaded_in_4bit", False))
    model = attach_lora(model, spec.lora)
    exp = experiment_id(client, settings, fleet.name)
    run = mlflow.start_run(experiment_id=exp, run_name=spec.name)
    try:
        _log_params(spec, meta, settings, epochs, max_steps, len(train), len(test))
        mlflow.log_param("qlora_4bit", quantized)
        mlflow.log_param("bf16_matmuls", spec.lora.bf16 and native_bf16())
        result = _train_and_log(model, tokenizer, spec, train, test, epochs, max_steps, on_step)
    except KeyboardInterrupt:
        mlflow.end_run(status="KILLED")
        raise
    except BaseException:
        mlflow.end_run(status="FAILED")
        raise
    mlflow.end_run(status="FINISHED")
    source = f"{run.info.artifact_uri}/adapter"
    # Only a run that reached this line is registered: no half-registered versions.
    metrics = {k: result.final.get(k, float("nan")) for k in ("test_metric", "base_metric")}
    version = register_version(client, spec.registered_name(), run.info.run_id, source, metrics)
    return RunSummary(run.info.run_id, version, result)


def _train_and_log(
    model: Any,
    tokenizer: Any,
    spec: MicromodelSpec,
    train: list[QAPair],
    test: list[QAPair],
    epochs: int | None,
    max_steps: int | None,
    on_step: Callable[[int, float], None] | None,
) -> TrainResult:
    """Inside the active run: train, measure the base model, log samples and the adapter."""
    import mlflow

    result = train_lora(
        model,
        tokenizer,
        spec,
        train,
        test,
        epochs=epochs,
        max_steps=max_steps,
        on_step=_step_logger(on_step),
        on_epoch=_epoch_logger,
    )
    # The base model's answers come after training, with the adapter switched off: a 4-bit
    # model that generates before training can end up with zero gradients. The promotion
    # gate compares the two on the same test split, as served (with context), in the same
    # precision as the last epoch's evaluation.
    with model.disable_adapter(), autocast(spec.lora.bf16):
        base_answers = generate_answers(model, tokenizer, spec, test)
    base_metric = answer_metric(spec.metric, base_answers, [p.answer for p in test])
    result.history[-1]["base_metric"] = base_metric
    mlflow.log_metric("base_metric", base_metric)
    _log_samples(test[:SAMPLES], base_answers[:SAMPLES], result.answers[:SAMPLES])
    _log_adapter(model)
    return result


def _log_params(
    spec: MicromodelSpec,
    meta: dict[str, Any],
    settings: Settings,
    epochs: int | None,
    max_steps: int | None,
    n_train: int,
    n_test: int,
) -> None:
    import mlflow

    params = {f"lora_{k}": v for k, v in spec.lora.model_dump().items()}
    feedback = meta.get("feedback") or {}
    params.update(
        micromodel=spec.name,
        metric=spec.metric,
        dataset_hash=meta.get("hash"),
        teacher=meta.get("teacher"),
        base_model=settings.base_model or BASE_MODEL_ID,
        epochs=epochs or spec.lora.epochs,
        max_steps=max_steps,
        train_pairs=n_train,
        test_pairs=n_test,
        feedback_pairs=feedback.get("added", 0) + feedback.get("replaced", 0),
    )
    mlflow.log_params({k: str(v)[:500] for k, v in params.items()})


def _step_logger(hook: Callable[[int, float], None] | None) -> Callable[[int, float], None]:
    import mlflow

    def log(step: int, loss: float) -> None:
        mlflow.log_metric("loss", loss, step=step)
        if hook:
            hook(step, loss)

    return log


def _epoch_logger(epoch: int, metrics: dict[str, float]) -> None:
    import mlflow

    mlflow.log_metrics(metrics, step=epoch)


def _log_samples(pairs: list[QAPair], base: list[str], tuned: list[str]) -> None:
    import mlflow

    table = {
        "question": [p.question for p in pairs],
        "reference": [p.answer for p in pairs],
        "base": base,
        "tuned": tuned,
    }
    # A column-oriented table: the MLflow UI shows it like log_table does, without pandas.
    mlflow.log_dict(
        {"columns": list(table), "data": [list(r) for r in zip(*table.values(), strict=True)]},
        artifact_file="samples.json",
    )


def _log_adapter(model: Any) -> None:
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "adapter"
        model.save_pretrained(path)
        mlflow.log_artifacts(str(path), artifact_path="adapter")

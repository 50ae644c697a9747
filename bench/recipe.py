"""The LoRA recipe sweep (not a test): train one micromodel under several recipes, each a
tracked MLflow run in the fleet's experiment, and print the test metric per epoch with and
without retrieved context, and the training time.

    python bench/recipe.py tax_rates --variant "old:r=8,alpha=16,epochs=2,learning_rate=5e-4,\
target_modules=q_proj+v_proj,context_dropout=0" --variant "fleet:"

A variant is NAME:KEY=VALUE,... over the spec's `lora` (lists joined with +); "NAME:" alone is
the fleet file's own recipe. Needs the dataset (`microfleet dataset generate M`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from microfleet.config import Settings
from microfleet.micromodel.spec import FleetSpec, MicromodelSpec, load_fleet
from microfleet.training.runs import run_training


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    name, _, body = text.partition(":")
    overrides: dict[str, Any] = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        overrides[key] = value.split("+") if key == "target_modules" else json.loads(value)
    return name, overrides


def variant_spec(spec: MicromodelSpec, overrides: dict[str, Any]) -> MicromodelSpec:
    lora = spec.lora.model_validate({**spec.lora.model_dump(), **overrides})
    return spec.model_copy(update={"lora": lora})


def run_variant(settings: Settings, fleet: FleetSpec, spec: MicromodelSpec, name: str) -> dict:
    started = time.perf_counter()

    def progress(step: int, loss: float) -> None:
        if step % 10 == 0:
            print(
                f"  step {step}: loss {loss:.3f}, {time.perf_counter() - started:.0f} s", flush=True
            )

    summary = run_training(settings, fleet, spec, on_step=progress)
    seconds = time.perf_counter() - started
    history = summary.result.history
    print(
        f"{name}: {seconds:.0f} s, {summary.result.steps} steps, run {summary.run_id}, "
        f"version {summary.version}",
        flush=True,
    )
    for epoch, metrics in enumerate(history, start=1):
        served = metrics.get("test_metric", float("nan"))
        print(
            f"  epoch {epoch}: with context {served:.3f}, "
            f"without {metrics['test_metric_no_context']:.3f}, "
            f"test loss {metrics['test_loss']:.3f}",
            flush=True,
        )
    return {"variant": name, "seconds": round(seconds), "history": history}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("micromodel")
    parser.add_argument("--variant", action="append", default=[], help="NAME:KEY=VALUE,...")
    args = parser.parse_args()
    settings = Settings()
    fleet = load_fleet(settings.fleet)
    base = fleet.get(args.micromodel)
    results = []
    for text in args.variant or ["fleet:"]:
        name, overrides = parse_variant(text)
        results.append(run_variant(settings, fleet, variant_spec(base, overrides), name))
    print(json.dumps(results))


if __name__ == "__main__":
    sys.exit(main())

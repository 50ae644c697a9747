"""Training-pipeline benchmarks (not tests), measured side by side in one run.

1. s/step of microfleet's LoRA training (with MLflow step logging) against a bare PEFT loop on
   the same examples, the same batch size and a fresh adapter each (goal: ratio <= 1.1)
2. time to generate a 100-question dataset with the local teacher (SmolLM2 on this machine)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from microfleet.config import Settings
from microfleet.llm.base_model import load_base_model
from microfleet.micromodel.spec import FleetSpec, load_fleet
from microfleet.training.examples import collate, encode_example

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from report import print_report  # noqa: E402


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _fresh_lora(settings: Settings, fleet: FleetSpec) -> tuple[object, object]:
    from microfleet.training.trainer import attach_lora

    model, tokenizer = load_base_model(None, settings.model_cache_dir)
    return attach_lora(model, fleet.get("tax_rates").lora), tokenizer


def bare_peft_seconds_per_step(
    settings: Settings, fleet: FleetSpec, pairs: list, steps: int
) -> float:
    import torch

    spec = fleet.get("tax_rates")
    model, tokenizer = _fresh_lora(settings, fleet)
    encoded = [
        encode_example(tokenizer, spec.system_prompt, p, spec.lora.max_length) for p in pairs
    ]
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],  # type: ignore[attr-defined]
        lr=spec.lora.learning_rate,
    )
    model.train()  # type: ignore[attr-defined]
    times = []
    for step in range(steps + 1):
        start = (step * spec.lora.batch_size) % max(1, len(encoded) - spec.lora.batch_size)
        t0 = time.perf_counter()
        batch = collate(encoded[start : start + spec.lora.batch_size], tokenizer.pad_token_id)  # type: ignore[attr-defined]
        loss = model(**batch).loss  # type: ignore[operator]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - t0)
    return sum(times[1:]) / steps  # the first step warms up


def microfleet_seconds_per_step(
    settings: Settings, fleet: FleetSpec, pairs: list, steps: int
) -> float:
    import mlflow

    from microfleet.training.registry import experiment_id, tracking
    from microfleet.training.runs import _step_logger
    from microfleet.training.trainer import train_lora

    spec = fleet.get("tax_rates")
    model, tokenizer = _fresh_lora(settings, fleet)
    marks: list[tuple[str, float]] = []
    client = tracking(settings)
    with mlflow.start_run(experiment_id=experiment_id(client, settings, "bench")):
        marks.append(("start", time.perf_counter()))
        # A step's time runs from the previous step or end-of-epoch evaluation, so the
        # evaluation (which the bare loop does not do) stays out of the per-step figure.
        train_lora(
            model,
            tokenizer,
            spec,
            pairs,
            pairs[:1],
            epochs=100,
            max_steps=steps + 1,
            on_step=_step_logger(lambda s, loss: marks.append(("step", time.perf_counter()))),
            on_epoch=lambda e, m: marks.append(("epoch", time.perf_counter())),
        )
    deltas = [b[1] - a[1] for a, b in itertools.pairwise(marks) if b[0] == "step"]
    return sum(deltas[1:]) / steps


def dataset_seconds(settings: Settings, n_questions: int, work: Path) -> float:
    from microfleet.features.ingest import load_context, run_ingest
    from microfleet.features.sources import resolve_inputs
    from microfleet.training.service import generate_dataset, make_teacher

    ctx = load_context(settings)
    run_ingest(resolve_inputs([str(REPO / "fleets/finance/corpus")]), settings, ctx)
    ctx.store.close()
    titles = [
        json.loads(line)["title"]
        for line in (REPO / "fleets/finance/corpus/news.jsonl").read_text().splitlines()
    ]
    templates = [
        "What does the news say about this: {}?",
        "Summarise: {}.",
        "Why does it matter that {}?",
    ]
    questions = [t.format(title) for t in templates for title in titles][:n_questions]
    root = work / "fleet"
    root.mkdir()
    (root / "seeds.txt").write_text(
        "\n".join(q.replace("{", "(").replace("}", ")") for q in questions)
    )
    base = (REPO / "fleets/finance/fleet.yaml").read_text()
    (root / "fleet.yaml").write_text(base.replace("seeds/market_news.txt", "seeds.txt"))
    fleet = load_fleet(root / "fleet.yaml")
    teacher = make_teacher(settings)
    t0 = time.perf_counter()
    result = generate_dataset(settings, fleet, fleet.get("market_news"), teacher=teacher)
    elapsed = time.perf_counter() - t0
    log(f"dataset: {len(result.train) + len(result.test)} pairs, {result.skipped} skipped")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="microfleet-bench-") as tmp:
        work = Path(tmp)
        settings = Settings(home=work / "home", models_dir=work / "models")
        fleet = load_fleet(REPO / "fleets/finance/fleet.yaml")
        from microfleet.micromodel.questions import data_driven_pairs
        from microfleet.training.dataset import QAPair

        pairs = [QAPair(q, "", a) for q, a in data_driven_pairs(fleet.get("tax_rates"), fleet)]
        log(
            f"training: {args.steps} steps each, alternating, "
            f"batch {fleet.get('tax_rates').lora.batch_size}"
        )
        bare = [bare_peft_seconds_per_step(settings, fleet, pairs, args.steps)]
        ours = [microfleet_seconds_per_step(settings, fleet, pairs, args.steps)]
        bare.append(bare_peft_seconds_per_step(settings, fleet, pairs, args.steps))
        ours.append(microfleet_seconds_per_step(settings, fleet, pairs, args.steps))
        report = {
            "training": {
                "bare_s_per_step": min(bare),
                "microfleet_s_per_step": min(ours),
                "ratio": min(ours) / min(bare),
            }
        }
        log(f"dataset: {args.questions} questions with the local teacher...")
        report["dataset"] = {
            "questions": args.questions,
            "seconds": dataset_seconds(settings, args.questions, work),
        }
    print_report(report, args.json)


if __name__ == "__main__":
    main()

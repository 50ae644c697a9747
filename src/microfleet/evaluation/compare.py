"""`eval compare MICROMODEL`: RAG against fine-tuning against both, on the micromodel's test split.

The same questions, the same prompt, four ways: the base model without context, the base model
with retrieved context, the fine-tuned adapter without context, and the adapter with context.
The table and a bar chart (PNG) come back; the CLI logs both to MLflow.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from microfleet.config import Settings
from microfleet.evaluation.answers import MODES
from microfleet.evaluation.service import Progress, open_runtime, run_setup, setup_for
from microfleet.training.dataset import load_split

CHART_METRICS = ("f1", "numeric_match", "rouge_l", "faithfulness")


def eval_compare(
    settings: Settings, micromodel: str, out: Path, max_tokens: int, progress: Progress
) -> dict[str, Any]:
    test = load_split(settings.dataset_dir(micromodel), "test")
    runtime, fleet = open_runtime(settings)
    try:
        fleet.get(micromodel)  # an unknown name: a UserError that lists the known ones
        setups = [setup_for(runtime, fleet, micromodel, mode) for mode in MODES]
        questions, references = [p.question for p in test], [[p.answer] for p in test]
        table = {
            s.label: run_setup(runtime, s, questions, references, max_tokens, progress)
            for s in setups
        }
    finally:
        asyncio.run(runtime.close())
    chart(table, out, f"{micromodel}: {len(test)} test questions")
    return {"micromodel": micromodel, "n": len(test), "ways": table, "chart": str(out)}


def chart(table: dict[str, dict[str, Any]], out: Path, title: str) -> None:
    """Grouped bars: one group per metric, one bar per way."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / max(len(table), 1)
    for i, (label, row) in enumerate(table.items()):
        values = [float(row.get(m) or 0.0) for m in CHART_METRICS]
        positions = [x + i * width for x in range(len(CHART_METRICS))]
        ax.bar(positions, values, width, label=label)
    ax.set_xticks([x + width * (len(table) - 1) / 2 for x in range(len(CHART_METRICS))])
    ax.set_xticklabels(CHART_METRICS)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize="small")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)

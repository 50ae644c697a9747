"""Orchestrator benchmarks (not tests). Every figure is measured side by side in one run.

1. 8 micromodel calls through the orchestrator, batched across 3 adapters on one base model,
   against the same 8 calls one after another                           (goal >= 3x)
2. routing accuracy and latency on the labelled set: semantic (all of it) against constrained
   decoding by the local model, alone (llm) and on the semantic shortlist (hybrid), on a subset
3. end-to-end time of "What are the VAT rates across the EU?" (27 calls, then the answer), its
   tool phase against one single tax_rates call (goal <= 3: 27 batched calls should cost little
   more than one), and how many of the 27 typed rates are right (against the data table). With
   it, a floor: the positions the tool phase computes (each call's own prompt tokens, after the
   shared prefix, and its answer's tokens), each at the engine's cheapest cost per position
   (a long prompt's prefill). On a CPU, where a pass costs in proportion to its positions, no
   batching brings the tool phase below it
4. each micromodel's champion: its test metric and the base model's, from the registry

With each batch, the share of prompt positions that prefill computed is printed too: rows of
one adapter that share a prompt prefix (system prompt and retrieved context) compute it once.

The adapters in 1 are freshly initialised LoRA weights (speed does not depend on training);
3 and 4 use whatever the registry holds: the shipped adapters on a fresh data dir.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from microfleet.config import Settings
from microfleet.core import threads
from microfleet.features.ingest import load_context, run_ingest
from microfleet.features.sources import resolve_inputs
from microfleet.fleet.calls import Progress
from microfleet.fleet.orchestrator import FleetOptions, Orchestrator
from microfleet.fleet.router import Router, ToolCall
from microfleet.inference.runtime import build_runtime
from microfleet.inference.turns import Turn
from microfleet.llm.local import BatchingEngine, LocalGenerator
from microfleet.micromodel.spec import FleetSpec, load_fleet

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from report import print_report  # noqa: E402

CORPUS = REPO / "fleets" / "finance" / "corpus"
FLEET = REPO / "fleets" / "finance" / "fleet.yaml"
CALLS = [
    ("tax_rates", {"country": "France"}),
    ("tax_rates", {"country": "Malta"}),
    ("tax_rates", {"country": "Poland"}),
    ("market_news", {"topic": "oil prices"}),
    ("market_news", {"topic": "the ECB decision"}),
    ("market_news", {"topic": "gold"}),
    ("personal_finance", {"question": "How big should an emergency fund be?"}),
    ("personal_finance", {"question": "Should I pay off debt before investing?"}),
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def orchestrator_with_adapters(runtime: Any, fleet: FleetSpec, settings: Settings) -> Orchestrator:
    """The runtime's orchestrator on the default engine (llama.cpp), with one fresh random
    LoRA adapter per micromodel (the same ones every run, so the same answer lengths)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from microfleet.llm.base_model import load_base_model
    from microfleet.llm.llamacpp import bundled_decoder

    torch.manual_seed(0)
    model, _ = load_base_model(None, settings.model_cache_dir)
    config = LoraConfig(r=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    names = [spec.name for spec in fleet.micromodels]
    model = get_peft_model(model, config, adapter_name=names[0])
    for name in names[1:]:
        model.add_adapter(name, config)
    saved = Path(tempfile.mkdtemp(prefix="bench-adapters-"))
    model.save_pretrained(saved, selected_adapters=names)
    adapters = {name: (saved / name, f"bench-{saved.name}") for name in names}
    engine = BatchingEngine(*bundled_decoder(saved, adapters), max_batch=8)
    generators = {name: LocalGenerator(engine, name, adapter=name) for name in names}
    base = LocalGenerator(engine, "base")
    search = runtime.assistant.search
    return Orchestrator(
        fleet=fleet,
        router=runtime.assistant.orchestrator.router,
        generators=generators,
        fallback=base,
        search=search,
        options=FleetOptions(call_max_tokens=48),
    )


async def _calls(orchestrator: Orchestrator, together: bool, context: bool = True) -> float:
    calls = [ToolCall(name, arguments) for name, arguments in CALLS]
    contexts = await asyncio.to_thread(orchestrator._retrieve_all, calls)
    if not context:
        contexts = [[] for _ in calls]
    start, progress = time.perf_counter(), Progress(600)
    if together:
        await asyncio.gather(
            *[orchestrator._dispatch(c, h, progress) for c, h in zip(calls, contexts, strict=True)]
        )
    else:
        for call, hits in zip(calls, contexts, strict=True):
            await orchestrator._dispatch(call, hits, progress)
    return time.perf_counter() - start


def bench_batching(orchestrator: Orchestrator, rounds: int) -> dict[str, float]:
    """As the orchestrator runs them (with retrieved context), and with no context at all:
    the prompts' prefill is compute-bound and gains nothing from batching; decoding does."""
    asyncio.run(_calls(orchestrator, True))  # warm up
    assert isinstance(orchestrator.fallback, LocalGenerator)
    stats = orchestrator.fallback.engine.stats
    report: dict[str, float] = {}
    for label, context in (("", True), ("no_context_", False)):
        sequential, batched = [], []
        for _ in range(rounds):
            sequential.append(asyncio.run(_calls(orchestrator, False, context)))
            prompt, computed = stats.prompt_tokens, stats.prefill_tokens
            batched.append(asyncio.run(_calls(orchestrator, True, context)))
        seq, bat = statistics.median(sequential), statistics.median(batched)
        report[f"{label}sequential_s"] = seq
        report[f"{label}batched_s"] = bat
        report[f"{label}speedup" + (" (goal >= 4)" if context else "")] = seq / bat
        share = (stats.prefill_tokens - computed) / max(stats.prompt_tokens - prompt, 1)
        report[f"{label}batched_prefill_computed_share"] = share
    return report


def _accuracy(router: Router, rows: list[dict[str, Any]]) -> tuple[float, float, float]:
    """(share of questions routed to exactly the labelled micromodels, valid-call share, p50 s)."""
    latencies, right, valid, total = [], 0, 0, 0
    for row in rows:
        start = time.perf_counter()
        plan = asyncio.run(router.plan(row["question"]))
        latencies.append(time.perf_counter() - start)
        right += {c["name"] for c in row["calls"]} == {c.name for c in plan.calls}
        valid += len(plan.calls)
        total += len(plan.calls) + len(plan.dropped)
    return right / len(rows), valid / max(total, 1), statistics.median(latencies)


def bench_routing(runtime: Any, fleet: FleetSpec, llm_questions: int) -> dict[str, float]:
    from microfleet.fleet.constrained import ConstrainedRouter

    rows = [json.loads(line) for line in (FLEET.parent / "routing.jsonl").read_text().splitlines()]
    semantic = runtime.assistant.orchestrator.router
    accuracy, _, p50 = _accuracy(semantic, rows)
    report = {"questions": len(rows), "semantic_accuracy": accuracy, "semantic_p50_ms": p50 * 1000}
    subset = rows[:: max(1, len(rows) // llm_questions)][:llm_questions]
    for name, shortlist in (("llm", None), ("hybrid", semantic)):
        router = ConstrainedRouter(fleet, runtime.engine, shortlist)
        accuracy, valid, p50 = _accuracy(router, subset)
        report[f"{name}_questions"] = len(subset)
        report[f"{name}_accuracy"] = accuracy
        report[f"{name}_valid_calls"] = valid
        report[f"{name}_p50_ms"] = p50 * 1000
    report["semantic_accuracy_on_that_subset"] = _accuracy(semantic, subset)[0]
    return report


EU_QUESTION = "What are the VAT rates across the EU, and which country has the lowest?"


async def _single_call(runtime: Any) -> float:
    orchestrator = runtime.assistant.orchestrator
    call = ToolCall("tax_rates", {"country": "Malta"})
    [hits] = await asyncio.to_thread(orchestrator._retrieve_all, [call])
    start = time.perf_counter()
    await orchestrator._dispatch(call, hits, Progress(600))
    return time.perf_counter() - start


def best_ms_per_position(engine: BatchingEngine, rows: int = 8, length: int = 64) -> float:
    """The engine's cheapest position: `rows` different prompts of `length` tokens prefilled
    together (full passes, short attention: its most efficient work), best of 3, in ms."""

    def prefill(decoder: Any, tokenizer: Any) -> float:
        text = " ".join(["The standard rate applies to most goods and services."] * 16)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        prompts = [[*tokenizer(f"{row}.")["input_ids"], *ids][:length] for row in range(rows)]
        start = time.perf_counter()
        decoder.decode(prompts, lambda _row, _token: True)  # each stops at its first new token
        return time.perf_counter() - start

    return min(engine.call(prefill).result() for _ in range(3)) * 1000 / (rows * length)


def bench_eu(runtime: Any, rounds: int) -> dict[str, Any]:
    positions: list[int] = []

    async def run() -> tuple[float, float, Any, str]:
        start = time.perf_counter()
        turn = Turn(
            model="fleet",
            use_cache=False,
            max_tokens=64,
            messages=[{"role": "user", "content": EU_QUESTION}],
        )
        before = stats.prefill_tokens + stats.tokens
        prepared = await runtime.assistant.prepare(turn)
        tools_done = time.perf_counter() - start
        await asyncio.wrap_future(runtime.engine.call(lambda *_: None))  # its batch has counted
        positions.append(stats.prefill_tokens + stats.tokens - before)
        parts = [d.text async for d in runtime.assistant.stream(prepared)]
        return tools_done, time.perf_counter() - start, prepared.fleet_trace, "".join(parts)

    rates = _rates()
    stats = runtime.engine.stats
    prompt, computed = stats.prompt_tokens, stats.prefill_tokens
    singles, tools, totals = [], [], []
    for _ in range(rounds):  # alternating: this VM's speed drifts
        singles.append(asyncio.run(_single_call(runtime)))
        tool_s, total_s, trace, answer = asyncio.run(run())
        tools.append(tool_s)
        totals.append(total_s)
    share = (stats.prefill_tokens - computed) / max(stats.prompt_tokens - prompt, 1)
    calls = trace["calls"] if trace else []
    right = sum(
        (c.get("data") or {}).get("rate") == rates.get(c["arguments"]["country"]) for c in calls
    )
    single, tool = statistics.median(singles), statistics.median(tools)
    # A floor no scheduling can beat on this machine: every position the tool phase computes
    # (its prompts' own tokens and its answers' tokens) at the engine's cheapest cost.
    floor = statistics.median(positions) * best_ms_per_position(runtime.engine) / 1000
    return {
        "calls": len(calls),
        "right_rates": right,
        "answer": answer.split("\n\nMicromodel answers:")[0][:160],
        "single_call_s": single,
        "tool_phase_s": tool,
        "tool_phase_over_single_call (goal <= 3)": tool / single,
        "end_to_end_s": statistics.median(totals),
        "prefill_computed_share": share,
        "tool_phase_positions": statistics.median(positions),
        "tool_phase_floor_s (positions at the cheapest ms per position)": floor,
        "floor_over_single_call": floor / single,
    }


def _rates() -> dict[str, float]:
    import csv

    rows = csv.DictReader((FLEET.parent / "data" / "vat_rates.csv").open())
    return {row["country"]: float(row["rate"]) for row in rows}


def bench_champions(settings: Settings, fleet: FleetSpec) -> dict[str, Any]:
    from microfleet.training.service import models_overview

    report: dict[str, Any] = {}
    for entry in models_overview(settings, fleet):
        champion = [v for v in entry["versions"] if "champion" in v["aliases"]]
        report[entry["micromodel"]] = (
            f"v{champion[0]['version']} test metric {champion[0]['test_metric']:.3f}"
            if champion
            else "no champion (the base model answers)"
        )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--llm-questions", type=int, default=6, help="Subset for llm routing.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    parser.add_argument(
        "--parts",
        default="batching,routing,eu",
        help="Which of batching,routing,eu to run.",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    threads.reserve_for_engine()  # the thread layout of a serving process (core/threads.py)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            home=Path(tmp) / "home", models_dir=REPO / ".microfleet" / "models", fleet=FLEET
        )
        log("ingesting the sample corpus ...")
        ctx = load_context(settings)
        run_ingest(resolve_inputs([str(CORPUS)]), settings, ctx)
        ctx.store.close()
        runtime = build_runtime(settings)
        fleet = load_fleet(FLEET)
        report: dict[str, dict[str, float]] = {}
        if "batching" in parts:
            log("8 calls across 3 adapters: batched vs sequential ...")
            adapters = orchestrator_with_adapters(runtime, fleet, settings)
            report["batching"] = bench_batching(adapters, args.rounds)
            assert isinstance(adapters.fallback, LocalGenerator)
            adapters.fallback.engine.close(wait=True)  # one engine (one thread pool) at a time
        if "routing" in parts:
            log("routing ...")
            report["routing"] = bench_routing(runtime, fleet, args.llm_questions)
        if "eu" in parts:
            log("the EU question ...")
            report["eu_question"] = bench_eu(runtime, args.rounds)
        report["champions"] = bench_champions(settings, fleet)
        asyncio.run(runtime.close())
    print_report(report, args.json)


if __name__ == "__main__":
    main()

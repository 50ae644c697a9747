"""Training s/step on CUDA (bf16): microfleet's LoRA loop against a bare PEFT loop.

For a GPU machine that has torch, transformers and peft but not the packaged weights: the base
is the SmolLM2-135M architecture from its config, randomly initialised (the same compute per
step as the real weights). MLflow logging is off here; bench/train.py measures it on the CPU.
Usage: python bench/gpu_train.py CONFIG_DIR [--steps N]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from microfleet.micromodel.questions import data_driven_pairs  # noqa: E402
from microfleet.micromodel.spec import load_fleet  # noqa: E402
from microfleet.training.dataset import QAPair  # noqa: E402
from microfleet.training.examples import collate, encode_example  # noqa: E402
from microfleet.training.trainer import attach_lora, train_lora  # noqa: E402


def fresh(config_dir: Path, lora: object) -> tuple[object, object]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(config_dir)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).to("cuda")
    tokenizer = AutoTokenizer.from_pretrained(config_dir)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    return attach_lora(model, lora), tokenizer  # type: ignore[arg-type]


def bare(config_dir: Path, spec: object, pairs: list[QAPair], steps: int) -> float:
    import torch

    model, tok = fresh(config_dir, spec.lora)  # type: ignore[attr-defined]
    encoded = [encode_example(tok, spec.system_prompt, p, spec.lora.max_length) for p in pairs]  # type: ignore[attr-defined]
    params = [p for p in model.parameters() if p.requires_grad]  # type: ignore[attr-defined]
    optimizer = torch.optim.AdamW(params, lr=spec.lora.learning_rate)  # type: ignore[attr-defined]
    size = spec.lora.batch_size  # type: ignore[attr-defined]
    times = []
    for step in range(steps + 1):
        start = (step * size) % (len(encoded) - size)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        batch = {
            k: v.to("cuda")
            for k, v in collate(encoded[start : start + size], tok.pad_token_id).items()
        }  # type: ignore[attr-defined]
        loss = model(**batch).loss  # type: ignore[operator]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        float(loss.detach())
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return sum(times[1:]) / steps


def timed_train(
    model: object, tok: object, spec: object, pairs: list[QAPair], steps: int
) -> tuple[float, float, float]:
    """microfleet's train_lora; (s/step, first loss, last loss).

    A step's time runs from the previous step or end-of-epoch evaluation, so evaluation
    (which bare() does not do) stays out of the per-step figure.
    """
    marks: list[tuple[str, float]] = [("start", time.perf_counter())]
    result = train_lora(
        model,
        tok,
        spec,
        pairs,
        pairs[:2],
        epochs=1000,
        max_steps=steps + 1,  # type: ignore[arg-type]
        on_step=lambda s, loss: marks.append(("step", time.perf_counter())),
        on_epoch=lambda e, m: marks.append(("epoch", time.perf_counter())),
    )
    deltas = [b[1] - a[1] for a, b in itertools.pairwise(marks) if b[0] == "step"]
    return sum(deltas[1:]) / steps, result.first_loss, result.last_loss


def ours(
    config_dir: Path, spec: object, pairs: list[QAPair], steps: int
) -> tuple[float, float, float]:
    model, tok = fresh(config_dir, spec.lora)  # type: ignore[attr-defined]
    return timed_train(model, tok, spec, pairs, steps)


def qlora_check(config_dir: Path, spec: object, pairs: list[QAPair], steps: int) -> None:
    """Load through microfleet's QLoRA path (NF4 on CUDA) and train: loss must fall."""
    import tempfile

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from microfleet.llm.base_model import load_base_model

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        config = AutoConfig.from_pretrained(config_dir)
        AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).save_pretrained(tmp)
        AutoTokenizer.from_pretrained(config_dir).save_pretrained(tmp)
        model, tok = load_base_model(tmp, Path(tmp), qlora=True)
        assert getattr(model, "is_loaded_in_4bit", False), "QLoRA path did not load 4-bit weights"
        model = attach_lora(model, spec.lora)  # type: ignore[attr-defined]
        per_step, first, last = timed_train(model, tok, spec, pairs, steps)
    print(f"  qlora_4bit_s_per_step  {per_step:.4f}")
    print(f"  qlora_loss             {first:.3f} -> {last:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("config_dir", type=Path)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--qlora", action="store_true", help="also train through the QLoRA path")
    args = parser.parse_args()
    import torch

    fleet = load_fleet(REPO / "fleets/finance/fleet.yaml")
    spec = fleet.get("tax_rates")
    pairs = [QAPair(q, "", a) for q, a in data_driven_pairs(spec, fleet)]
    b1, (o1, first, last) = (
        bare(args.config_dir, spec, pairs, args.steps),
        ours(args.config_dir, spec, pairs, args.steps),
    )
    b2, (o2, _, _) = (
        bare(args.config_dir, spec, pairs, args.steps),
        ours(args.config_dir, spec, pairs, args.steps),
    )
    print(
        f"device {torch.cuda.get_device_name()} bf16, "
        f"batch {spec.lora.batch_size}, {args.steps} steps"
    )
    print(f"  bare_s_per_step        {min(b1, b2):.4f}")
    print(f"  microfleet_s_per_step  {min(o1, o2):.4f}")
    print(f"  ratio                  {min(o1, o2) / min(b1, b2):.3f}")
    print(f"  loss                   {first:.3f} -> {last:.3f}")
    if args.qlora:
        qlora_check(args.config_dir, spec, pairs, args.steps)


if __name__ == "__main__":
    main()

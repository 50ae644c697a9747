"""LoRA fine-tuning of one micromodel with PEFT, evaluated on the test split every epoch."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from microfleet.fleet.spec import LoraSpec, MicromodelSpec
from microfleet.training.dataset import QAPair
from microfleet.training.examples import Example, collate, encode_example
from microfleet.training.metrics import answer_metric
from microfleet.training.teacher import build_messages

StepHook = Callable[[int, float], None]
EpochHook = Callable[[int, dict[str, float]], None]


@dataclass
class TrainResult:
    steps: int
    epochs: int
    history: list[dict[str, float]] = field(default_factory=list)
    first_loss: float = float("nan")
    last_loss: float = float("nan")

    @property
    def final(self) -> dict[str, float]:
        return self.history[-1] if self.history else {}


def attach_lora(model: Any, lora: LoraSpec) -> Any:
    from peft import LoraConfig, get_peft_model

    if getattr(model, "is_loaded_in_4bit", False):
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def train_lora(
    model: Any,
    tokenizer: Any,
    spec: MicromodelSpec,
    train: list[QAPair],
    test: list[QAPair],
    epochs: int | None = None,
    max_steps: int | None = None,
    on_step: StepHook | None = None,
    on_epoch: EpochHook | None = None,
) -> TrainResult:
    """Train the LoRA-wrapped `model` in place; returns the loss curve and per-epoch metrics."""
    import torch

    lora = spec.lora
    encoded = [encode_example(tokenizer, spec.system_prompt, p, lora.max_length) for p in train]
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=lora.learning_rate
    )
    result = TrainResult(steps=0, epochs=0)
    rng = random.Random(0)
    for epoch in range(1, (epochs or lora.epochs) + 1):
        model.train()
        rng.shuffle(encoded)
        for start in range(0, len(encoded), lora.batch_size):
            loss = _step(model, optimizer, encoded[start : start + lora.batch_size], tokenizer)
            result.steps += 1
            result.first_loss = loss if result.steps == 1 else result.first_loss
            result.last_loss = loss
            if on_step:
                on_step(result.steps, loss)
            if max_steps and result.steps >= max_steps:
                break
        metrics = evaluate(model, tokenizer, spec, test)
        result.history.append(metrics)
        result.epochs = epoch
        if on_epoch:
            on_epoch(epoch, metrics)
        if max_steps and result.steps >= max_steps:
            break
    return result


def _step(model: Any, optimizer: Any, batch: list[Example], tokenizer: Any) -> float:
    inputs = {k: v.to(model.device) for k, v in collate(batch, tokenizer.pad_token_id).items()}
    loss = model(**inputs).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return float(loss.detach())


def evaluate(
    model: Any, tokenizer: Any, spec: MicromodelSpec, test: list[QAPair]
) -> dict[str, float]:
    """Test loss, perplexity = exp(mean token NLL), and the spec's answer metric."""
    import torch

    model.eval()
    total_nll, total_tokens = 0.0, 0
    with torch.no_grad():
        for pair in test:
            example = encode_example(tokenizer, spec.system_prompt, pair, spec.lora.max_length)
            inputs = {
                k: v.to(model.device) for k, v in collate([example], tokenizer.pad_token_id).items()
            }
            n = sum(1 for label in example.labels[1:] if label != -100)
            total_nll += float(model(**inputs).loss) * n
            total_tokens += n
    mean_nll = total_nll / max(total_tokens, 1)
    predictions = generate_answers(model, tokenizer, spec, test)
    metric = answer_metric(spec.metric, predictions, [p.answer for p in test])
    return {"test_loss": mean_nll, "perplexity": math.exp(min(mean_nll, 50)), "test_metric": metric}


def generate_answers(
    model: Any, tokenizer: Any, spec: MicromodelSpec, pairs: list[QAPair], max_new_tokens: int = 64
) -> list[str]:
    """Greedy answers to each pair's chat, as the micromodel is served."""
    from microfleet.llm.generator import complete_chat

    return [
        complete_chat(
            model,
            tokenizer,
            build_messages(spec.system_prompt, p.question, p.context),
            max_new_tokens,
        ).text
        for p in pairs
    ]

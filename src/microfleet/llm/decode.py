"""A batched decode loop that drops each row from the batch as soon as it is finished.

`model.generate` keeps computing finished rows until the longest one ends, so a batch of short
and long answers costs as much as all-long ones. Here, after every step, finished rows (end of
sequence, their own max_tokens, or a client that went away) leave the KV cache, the attention
mask and the adapter list, and the rest go on. Greedy unless temperature > 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OnToken = Callable[[int, int], bool]  # (row, token) -> is this row finished?


def decode(
    model: Any,
    inputs: Any,
    on_token: OnToken,
    temperature: float = 0.0,
    adapter_names: list[str] | None = None,
) -> None:
    """Generate for a left-padded batch until every row's `on_token` says it is finished."""
    import torch

    alive = list(range(int(inputs["input_ids"].shape[0])))
    mask = inputs["attention_mask"]
    ids = inputs["input_ids"]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    past: Any = None
    names = list(adapter_names) if adapter_names else None
    with torch.no_grad():
        while alive:
            extra = {"adapter_names": names} if names else {}
            out = model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=past,
                use_cache=True,
                logits_to_keep=1,  # the next token only: no vocabulary projection of the prompt
                **extra,
            )
            past = out.past_key_values
            tokens = _pick(out.logits[:, -1, :], temperature)
            keep = [j for j, row in enumerate(alive) if not on_token(row, int(tokens[j]))]
            if not keep:
                return
            if len(keep) < len(alive):
                index = torch.tensor(keep, device=mask.device)
                past.batch_select_indices(index)
                mask, tokens = mask[index], tokens[index]
                alive = [alive[j] for j in keep]
                names = [names[j] for j in keep] if names else None
            mask = torch.cat([mask, mask.new_ones((len(alive), 1))], dim=1)
            ids = tokens.unsqueeze(-1)
            positions = mask.sum(-1, keepdim=True) - 1


def _pick(logits: Any, temperature: float) -> Any:
    import torch

    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    return torch.multinomial(probs, 1).squeeze(-1)

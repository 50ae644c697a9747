from __future__ import annotations

from typing import Any


def test_the_output_layer_gets_contiguous_rows_and_the_same_logits(base: tuple[Any, Any]) -> None:
    """A multi-row pass that keeps only the last position's logits hands the output layer a
    strided slice; the loaded model makes it contiguous (the CPU's slow path copies the whole
    weight per row otherwise) and the logits are those of the full pass."""
    import torch

    model, _ = base
    seen: list[bool] = []
    head = model.get_output_embeddings()
    hook = head.register_forward_hook(lambda _m, args, _out: seen.append(args[0].is_contiguous()))
    ids = torch.randint(100, 1000, (3, 5))
    try:
        with torch.no_grad():
            last = model(input_ids=ids, logits_to_keep=1).logits[:, -1]
            full = model(input_ids=ids).logits[:, -1]
    finally:
        hook.remove()
    assert seen == [True, True]
    assert torch.allclose(last, full, atol=1e-4)

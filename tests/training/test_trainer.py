"""bfloat16 autocast only where the CPU multiplies bf16 natively: emulated on AVX2, it made
one training step take minutes."""

from __future__ import annotations

import torch

from microfleet.llm.base_model import native_bf16
from microfleet.training.trainer import autocast


def test_bf16_matmuls_only_where_the_cpu_has_them() -> None:
    with autocast(True):
        product = torch.ones(4, 4) @ torch.ones(4, 4)
    assert product.dtype == (torch.bfloat16 if native_bf16() else torch.float32)
    with autocast(False):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32

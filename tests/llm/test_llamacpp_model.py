"""The model llama.cpp serves: the shipped GGUF requantized once to Q4_0, its matrices placed in
ggml's CPU_REPACK buffers by name, and never through the extra buffer types (AMX)."""

from __future__ import annotations

from pathlib import Path

from microfleet.llm.llamacpp import llama_lib
from microfleet.llm.llamacpp_model import MATRICES, model_params, repacked_gguf
from microfleet.llm.smollm2 import SMOLLM2_GGUF, smollm2_package_dir


def test_the_shipped_gguf_is_requantized_once_and_its_matrices_go_to_repack(
    models_dir: Path,
) -> None:
    from gguf import GGMLQuantizationType, GGUFReader

    lib, shipped = llama_lib(), smollm2_package_dir() / SMOLLM2_GGUF
    made = repacked_gguf(lib, shipped, models_dir)
    stamp = made.stat().st_mtime_ns
    assert repacked_gguf(lib, shipped, models_dir) == made
    assert made.stat().st_mtime_ns == stamp  # reused, not made again

    import re

    types = {t.name: t.tensor_type for t in GGUFReader(made).tensors}
    matrices = [name for name in types if re.search(MATRICES, name)]
    assert len(matrices) == 30 * 7  # every layer's q, k, v, output, gate, up and down
    assert {types[name] for name in matrices} == {GGMLQuantizationType.Q4_0}

    repacked = model_params(lib, made)
    assert repacked.use_extra_bufts is False
    assert repacked.tensor_buft_overrides  # the override list, pointing at CPU_REPACK
    plain = model_params(lib, shipped)  # Q4_1 matrices: ggml would not repack them
    assert plain.use_extra_bufts is False
    assert not plain.tensor_buft_overrides

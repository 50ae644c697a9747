"""A PEFT LoRA adapter (what training registers) as a GGUF LoRA adapter (what llama.cpp loads).

The tensors keep their values; only their names and, for the query and key projections, the
order of their output rows change. llama.cpp's GGUF stores those two projections with each
head's rotary halves interleaved (convert_hf_to_gguf.py permutes them, and Hugging Face's
GGUF loader permutes them back), so an adapter's B matrix for them is permuted the same way.
The tensor names come from the `gguf` package's own map of Hugging Face names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from microfleet.errors import UserError

_SUFFIXES = {"lora_A": "lora_a", "lora_B": "lora_b"}


def convert_adapter(adapter_dir: Path, target: Path, base_config: dict[str, Any]) -> Path:
    """Write the PEFT adapter in `adapter_dir` as the GGUF file `target` (returned)."""
    import gguf
    from safetensors.numpy import load_file

    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    if config.get("use_dora") or config.get("modules_to_save"):
        raise UserError(f"{adapter_dir}: only plain LoRA adapters can be served by llama.cpp")
    layers = int(base_config["num_hidden_layers"])
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, layers)
    writer = gguf.GGUFWriter(str(target), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    writer.add_string(gguf.Keys.General.TYPE, gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
    for key, value in sorted(load_file(str(adapter_dir / "adapter_model.safetensors")).items()):
        module, kind = _split(key)
        name = names.get_name(module + ".weight", try_suffixes=(".weight",))
        if name is None:
            raise UserError(f"{adapter_dir}: no llama.cpp tensor for {module}")
        if kind == "lora_B":
            value = _rotary_order(module, value, base_config)
        writer.add_tensor(f"{name}.{_SUFFIXES[kind]}", value.astype("float32"))
    target.parent.mkdir(parents=True, exist_ok=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


def _split(key: str) -> tuple[str, str]:
    """'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight' ->
    ('model.layers.0.self_attn.q_proj', 'lora_A')."""
    stem = key.removeprefix("base_model.model.").removesuffix(".weight")
    module, _, kind = stem.rpartition(".")
    if kind not in _SUFFIXES:
        raise UserError(f"unexpected adapter tensor {key}")
    return module, kind


def _rotary_order(module: str, b: Any, config: dict[str, Any]) -> Any:
    """B's output rows in llama.cpp's order for the query and key projections."""
    if module.endswith("q_proj"):
        heads = int(config["num_attention_heads"])
    elif module.endswith("k_proj"):
        heads = int(config.get("num_key_value_heads") or config["num_attention_heads"])
    else:
        return b
    rows = b.shape[0]
    return b.reshape(heads, 2, rows // heads // 2, *b.shape[1:]).swapaxes(1, 2).reshape(b.shape)

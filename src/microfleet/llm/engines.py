"""Which decoder the local engine runs (`Settings.engine`), built with its adapters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from microfleet.config import Settings
from microfleet.errors import UserError
from microfleet.llm.decoder import Decoder, TransformersDecoder


def local_decoder(
    settings: Settings, adapters: dict[str, tuple[Path, str]], rows: int | None = None
) -> tuple[Decoder, Any]:
    """The configured decoder and its tokenizer, with `adapters` ({name: (PEFT directory,
    version)}) loaded; `rows`: the most rows a batch may have (default `max_batch`)."""
    if not uses_llamacpp(settings):
        return _transformers_decoder(settings, adapters)
    from microfleet.llm.llamacpp import bundled_decoder

    return bundled_decoder(
        settings.model_cache_dir,
        adapters,
        threads=settings.llm_threads,
        rows=rows or settings.max_batch,
        context=settings.context_window,
    )


def uses_llamacpp(settings: Settings) -> bool:
    """llama.cpp unless the base model is not the bundled GGUF, or transformers is asked for."""
    if settings.engine == "auto":
        return not settings.base_model
    if settings.engine == "llama.cpp" and settings.base_model:
        raise UserError(
            "MICROFLEET_ENGINE=llama.cpp runs the bundled GGUF only; "
            "unset MICROFLEET_BASE_MODEL or use MICROFLEET_ENGINE=transformers"
        )
    return settings.engine == "llama.cpp"


def _transformers_decoder(
    settings: Settings, adapters: dict[str, tuple[Path, str]]
) -> tuple[Decoder, Any]:
    from peft import PeftModel

    from microfleet.llm.base_model import load_base_model

    model, tokenizer = load_base_model(
        settings.base_model, settings.model_cache_dir, dtype_name=settings.serve_dtype
    )
    for name, (path, _) in adapters.items():
        if isinstance(model, PeftModel):
            model.load_adapter(str(path), adapter_name=name)
        else:
            model = PeftModel.from_pretrained(model, str(path), adapter_name=name)
    return TransformersDecoder(model, tokenizer), tokenizer

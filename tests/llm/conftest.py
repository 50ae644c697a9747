from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def base(models_dir: Path) -> tuple[Any, Any]:
    """The base model (fp32, CPU) and its tokenizer, for tests that do not change it."""
    from microfleet.llm.base_model import load_base_model

    return load_base_model(None, models_dir, device="cpu")  # type: ignore[no-any-return]

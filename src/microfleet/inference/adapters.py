"""Micromodel adapters from the registry, loaded by name onto the one shared base model."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from microfleet.config import Settings
from microfleet.errors import UserError
from microfleet.micromodel.spec import FleetSpec
from microfleet.training.registry import CHAMPION, download_adapter, version_number
from microfleet.training.shipped import register_shipped


def load_adapters(
    settings: Settings, fleet: FleetSpec, base: Any, alias: str = CHAMPION
) -> tuple[Any, dict[str, str]]:
    """Each micromodel's `models:/micromodel-<name>@alias` as a named adapter on `base`.

    `settings.micromodel_versions` pins a micromodel to a version number or another alias.
    Micromodels without such a version are skipped (they have not been trained or promoted).
    Returns the (possibly PEFT-wrapped) model and {name: version}, where version is the
    registry's version number and a hash of the adapter's weights, "v3-1a2b3c4d5e6f" (it
    scopes cached answers: a new champion starts a fresh scope).
    """
    from peft import PeftModel

    register_shipped(settings, fleet)  # a fresh data dir starts with the fleet's adapters
    model: Any = base
    loaded: dict[str, str] = {}
    for spec in fleet.micromodels:
        try:
            ref = settings.micromodel_versions.get(spec.name, alias)
            path = download_adapter(settings, spec.registered_name(), ref)
            number = version_number(settings, spec.registered_name(), ref)
        except UserError:
            continue
        if not loaded:
            model = PeftModel.from_pretrained(base, str(path), adapter_name=spec.name)
        else:
            model.load_adapter(str(path), adapter_name=spec.name)
        loaded[spec.name] = f"v{number}-{_weights_hash(path)}"
    return model, loaded


def _weights_hash(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(path.glob("*.safetensors")):
        digest.update(file.read_bytes())
    return digest.hexdigest()[:12]

"""Micromodel adapters from the registry, loaded by name onto the one shared base model."""

from __future__ import annotations

from typing import Any

from microfleet.config import Settings
from microfleet.errors import UserError
from microfleet.fleet.spec import FleetSpec
from microfleet.training.registry import CHAMPION, download_adapter


def load_adapters(
    settings: Settings, fleet: FleetSpec, base: Any, alias: str = CHAMPION
) -> tuple[Any, list[str]]:
    """Each micromodel's `models:/micromodel-<name>@alias` as a named adapter on `base`.

    `settings.micromodel_versions` pins a micromodel to a version number or another alias.
    Micromodels without such a version are skipped (they have not been trained or promoted).
    Returns the (possibly PEFT-wrapped) model and the names that were loaded.
    """
    from peft import PeftModel

    model: Any = base
    loaded: list[str] = []
    for spec in fleet.micromodels:
        try:
            ref = settings.micromodel_versions.get(spec.name, alias)
            path = download_adapter(settings, spec.registered_name(), ref)
        except UserError:
            continue
        if not loaded:
            model = PeftModel.from_pretrained(base, str(path), adapter_name=spec.name)
        else:
            model.load_adapter(str(path), adapter_name=spec.name)
        loaded.append(spec.name)
    return model, loaded

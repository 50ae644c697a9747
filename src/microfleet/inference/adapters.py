"""The local engine: the shared base model with each micromodel's registered adapter on it
(`Settings.engine` picks the decoder: llm/engines.py `local_decoder`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from microfleet.config import Settings
from microfleet.errors import UserError
from microfleet.llm.engines import local_decoder
from microfleet.llm.local import BatchingEngine
from microfleet.micromodel.spec import FleetSpec
from microfleet.training.registry import CHAMPION, download_adapter, version_number
from microfleet.training.shipped import register_shipped


def champion_adapters(
    settings: Settings, fleet: FleetSpec, alias: str = CHAMPION
) -> dict[str, tuple[Path, str]]:
    """{micromodel: (its PEFT adapter directory, version)} for `models:/micromodel-<name>@alias`.

    `settings.micromodel_versions` pins a micromodel to a version number or another alias.
    Micromodels without such a version are left out (they have not been trained or promoted).
    The version is the registry's number and a hash of the weights, "v3-1a2b3c4d5e6f" (it
    scopes cached answers: a new champion starts a fresh scope).
    """
    register_shipped(settings, fleet)  # a fresh data dir starts with the fleet's adapters
    found: dict[str, tuple[Path, str]] = {}
    for spec in fleet.micromodels:
        try:
            ref = settings.micromodel_versions.get(spec.name, alias)
            path = download_adapter(settings, spec.registered_name(), ref)
            number = version_number(settings, spec.registered_name(), ref)
        except UserError:
            continue
        found[spec.name] = (path, f"v{number}-{_weights_hash(path)}")
    return found


def local_engine(
    settings: Settings, fleet: FleetSpec | None
) -> tuple[BatchingEngine, dict[str, str]]:
    """The batching engine on the configured decoder, and {micromodel: version} it serves."""
    adapters = champion_adapters(settings, fleet) if fleet is not None else {}
    decoder, tokenizer = local_decoder(settings, adapters)
    engine = BatchingEngine(decoder, tokenizer, max_batch=settings.max_batch)
    return engine, {name: version for name, (_, version) in adapters.items()}


def _weights_hash(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(path.glob("*.safetensors")):
        digest.update(file.read_bytes())
    return digest.hexdigest()[:12]

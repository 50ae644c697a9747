"""The fleet: micromodel specs (and, later, the orchestrator that calls them as tools)."""

from microfleet.fleet.spec import FleetSpec, MicromodelSpec, UnknownMicromodel, load_fleet

__all__ = ["FleetSpec", "MicromodelSpec", "UnknownMicromodel", "load_fleet"]

"""Sources: files and directories, JSONL on stdin, RSS/Atom feeds, the Alpaca news WebSocket."""

from microfleet.features.sources.specs import InputSpec, resolve_inputs

__all__ = ["InputSpec", "resolve_inputs"]

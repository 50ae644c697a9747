"""Turn command-line inputs into typed input specs, refusing bad ones up front."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from microfleet.errors import UserError

FEED_SUFFIXES = {".xml", ".rss", ".atom"}
Kind = Literal["path", "stdin", "feed", "alpaca"]


@dataclass(frozen=True)
class InputSpec:
    kind: Kind
    target: str

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.target}"


def resolve_inputs(args: list[str]) -> list[InputSpec]:
    """`-` is stdin; ws(s):// is Alpaca news; http(s):// and .xml/.rss/.atom files are feeds."""
    if not args:
        raise UserError("give at least one file, directory, feed URL, WebSocket URL or '-'")
    return [_resolve(arg) for arg in args]


def _resolve(arg: str) -> InputSpec:
    if arg == "-":
        return InputSpec("stdin", "-")
    lowered = arg.lower()
    if lowered.startswith(("ws://", "wss://")):
        return InputSpec("alpaca", arg)
    if lowered.startswith(("http://", "https://")):
        return InputSpec("feed", arg)
    path = Path(arg)
    if not path.exists():
        raise UserError(f"no such file or directory: {arg}")
    if path.is_file() and path.suffix.lower() in FEED_SUFFIXES:
        return InputSpec("feed", arg)
    return InputSpec("path", arg)

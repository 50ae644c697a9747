"""The `microfleet` command: one module per command group, wired in `main`."""

from microfleet.cli.main import app

__all__ = ["app"]

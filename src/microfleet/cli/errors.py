"""Domain errors become one line on stderr and an exit code at the CLI edge; never a traceback."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer

from microfleet.errors import MicrofleetError, UserError

F = TypeVar("F", bound=Callable[..., Any])
SIGPIPE_EXIT = 141  # what a shell reports for a command that a closed pipe stopped (128 + 13)


def friendly_errors(func: F) -> F:
    """Turn domain errors into one line on stderr and an exit code; never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except MicrofleetError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except (typer.Exit, typer.Abort):
            raise
        except BrokenPipeError:  # the reader left (`| head`): stop quietly, as Unix tools do
            _drop_stdout()
            raise typer.Exit(SIGPIPE_EXIT) from None
        except Exception as exc:  # a bug: still one line, with a way to see more
            if os.environ.get("MICROFLEET_DEBUG"):
                raise
            typer.echo(
                f"internal error: {type(exc).__name__}: {exc} "
                "(set MICROFLEET_DEBUG=1 for a traceback)",
                err=True,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _drop_stdout() -> None:
    """Send what is left of stdout to /dev/null: Python flushes it again at exit, and would
    print a second BrokenPipeError there (Python's docs on SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):  # no real file behind stdout
        pass

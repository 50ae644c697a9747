"""The CLI's edge: errors become one line and an exit code, never a traceback."""

from __future__ import annotations

import pytest
import typer

from microfleet.cli.errors import SIGPIPE_EXIT, friendly_errors
from microfleet.errors import UserError


def test_a_reader_that_leaves_the_pipe_stops_the_command_quietly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`microfleet ask ... | head -1`: the write after head has gone is no internal error."""

    @friendly_errors
    def printing() -> None:
        raise BrokenPipeError(32, "Broken pipe")

    with pytest.raises(typer.Exit) as ended:
        printing()
    assert ended.value.exit_code == SIGPIPE_EXIT
    assert capsys.readouterr().err == ""


def test_a_user_error_is_one_line_and_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    @friendly_errors
    def failing() -> None:
        raise UserError("no such fleet; pass --fleet")

    with pytest.raises(typer.Exit) as ended:
        failing()
    assert ended.value.exit_code == 2
    assert capsys.readouterr().err == "error: no such fleet; pass --fleet\n"

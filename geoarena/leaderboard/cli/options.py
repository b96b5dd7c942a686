"""Options and helpers shared by the organizer and participant commands."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from geoarena.cli import exit_on_error
from geoarena.leaderboard import credentials
from geoarena.leaderboard.boards import Board
from geoarena.leaderboard.report import board_table, board_width

DB_OPTION = click.option(
    "--db",
    "database",
    envvar="GEOARENA_DATABASE_URL",
    default="sqlite:///geoarena.db",
    show_default=True,
    help="SQLAlchemy URL: sqlite:///file.db or postgresql+psycopg://... (GEOARENA_DATABASE_URL).",
)
#: a CSV file named on the command line: it must exist (click says so before any work).
CSV_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def truth_option(*, required: bool, help: str) -> Callable[[Callable[..., Any]], Any]:
    """``--truth``: a ground-truth CSV (a challenge's, or a rescore's replacement)."""
    return click.option("--truth", type=CSV_FILE, required=required, default=None, help=help)


_SERVER = click.option(
    "--server",
    envvar="GEOARENA_SERVER",
    default=None,
    help="Server URL (or GEOARENA_SERVER, or the saved credentials).",
)
_TOKEN = click.option(
    "--token",
    envvar="GEOARENA_TOKEN",
    default=None,
    help="Bearer token (or GEOARENA_TOKEN, or the saved credentials).",
)


def remote(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--server`` and ``--token`` for a command that talks to a server: flags, then the
    environment, then the file ``geoarena leaderboard login`` saved; a usage error naming
    all three when none gives them."""

    @functools.wraps(command)
    def with_remote(*args: Any, server: str | None, token: str | None, **kwargs: Any) -> Any:
        with exit_on_error():
            server, token = credentials.resolve(server, token)
        if server is None:
            raise click.UsageError(
                "no server: pass --server URL, set GEOARENA_SERVER,"
                " or run 'geoarena leaderboard login'"
            )
        if token is None:
            raise click.UsageError(
                f"no token for {server}: pass --token, set GEOARENA_TOKEN,"
                " or run 'geoarena leaderboard login'"
            )
        return command(*args, server=server, token=token, **kwargs)

    return _SERVER(_TOKEN(with_remote))


def print_board(board: Board, as_json: bool) -> None:
    """A board as JSON or as a rich table, on stdout."""
    if as_json:
        click.echo(json.dumps(board.model_dump(mode="json"), indent=2))
    else:
        Console(width=board_width()).print(board_table(board))

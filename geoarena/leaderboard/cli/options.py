"""Options and helpers shared by the organizer and participant commands."""

from __future__ import annotations

import json

import click
from rich.console import Console

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
SERVER_OPTION = click.option(
    "--server", envvar="GEOARENA_SERVER", required=True, help="Server URL (or GEOARENA_SERVER)."
)
TOKEN_OPTION = click.option(
    "--token", envvar="GEOARENA_TOKEN", required=True, help="Bearer token (or GEOARENA_TOKEN)."
)


def print_board(board: Board, as_json: bool) -> None:
    """A board as JSON or as a rich table, on stdout."""
    if as_json:
        click.echo(json.dumps(board.model_dump(mode="json"), indent=2))
    else:
        Console(width=board_width()).print(board_table(board))

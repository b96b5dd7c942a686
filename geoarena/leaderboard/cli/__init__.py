"""``geoarena leaderboard ...``: the organizer's commands (database access) and the
participant's (a server and a token), in one group."""

from __future__ import annotations

import click

from geoarena.leaderboard.cli import operations, organizer, participant


@click.group()
def leaderboard() -> None:
    """Host a challenge: database, teams, tokens, server, workers; submit to one."""


for command in (*organizer.COMMANDS, *operations.COMMANDS, *participant.COMMANDS):
    leaderboard.add_command(command)

__all__ = ["leaderboard"]

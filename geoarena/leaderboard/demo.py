"""A whole challenge hosted in one call, for ``geoarena demo`` and smoke tests."""

from __future__ import annotations

from rich.console import Console
from sqlalchemy import select

from geoarena.leaderboard.access import Principal, authenticate, issue_token
from geoarena.leaderboard.boards import Board, leaderboard
from geoarena.leaderboard.challenges import add_team, create_challenge
from geoarena.leaderboard.db import Database, open_database
from geoarena.leaderboard.phases import PhaseChange
from geoarena.leaderboard.report import board_table, board_width
from geoarena.leaderboard.schema import Challenge, Team
from geoarena.leaderboard.states import Role
from geoarena.leaderboard.submissions import submit
from geoarena.leaderboard.worker import Worker


def _principal(db: Database, token: str) -> Principal:
    principal = authenticate(db, token)
    assert principal is not None, "a token issued a moment ago names its member"
    return principal


def run_local_demo(
    *,
    database: str,
    truth: bytes,
    submissions: dict[str, bytes],
    baseline: bytes | None = None,
    slug: str = "demo",
    title: str = "geoarena demo challenge",
    rules: str = "deepglobe",
    show: bool = True,
) -> Board:
    """Host a whole challenge in one call and return its public board.

    Creates (or reuses) challenge ``slug`` in the SQLite file ``database`` (a path or URL),
    adds one team per key of ``submissions``, submits an organizer ``baseline`` and each
    team's CSV, scores everything inline and prints the board when ``show``.

    Example::

        from geoarena.leaderboard import run_local_demo
        board = run_local_demo(database="demo.db", truth=truth_bytes,
                               submissions={"team-a": csv_bytes}, baseline=base_bytes)
    """
    url = database if "://" in database else f"sqlite:///{database}"
    db = open_database(url, migrate=True)
    try:
        with db.session() as session:
            exists = session.execute(select(Challenge.id).where(Challenge.slug == slug)).first()
        if not exists:
            unlimited = PhaseChange(daily_limit=None, concurrent_limit=None)
            create_challenge(db, slug=slug, title=title, truth=truth, rules=rules, phase=unlimited)
        organizer = _principal(db, issue_token(db, member="demo-organizer", role=Role.ORGANIZER))
        if baseline is not None:
            submit(
                db,
                principal=organizer,
                slug=slug,
                data=baseline,
                filename="baseline.csv",
                baseline_label="baseline",
            )
        for team, data in submissions.items():
            with db.session() as session:
                known = session.execute(
                    select(Team.id).join(Challenge).where(Challenge.slug == slug, Team.name == team)
                ).first()
            if not known:
                add_team(db, slug=slug, name=team)
            principal = _principal(
                db, issue_token(db, member=f"{team}-member", slug=slug, team=team)
            )
            submit(db, principal=principal, slug=slug, data=data, filename=f"{team}.csv")
        Worker(db).run(exit_when_idle=True)
        board = leaderboard(db, slug=slug)
        if show:
            Console(width=board_width()).print(board_table(board))
        return board
    finally:
        db.dispose()

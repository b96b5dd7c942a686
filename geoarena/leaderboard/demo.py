"""A whole challenge hosted in one call, for ``geoarena demo`` and smoke tests."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from sqlalchemy import select

from geoarena.leaderboard.report import board_table, board_width
from geoarena.leaderboard.schema import ORGANIZER, Challenge, Team
from geoarena.leaderboard.service import (
    add_team,
    authenticate,
    board_to_dict,
    create_challenge,
    issue_token,
    leaderboard,
    open_database,
    submit,
)
from geoarena.leaderboard.worker import Worker


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
) -> dict[str, Any]:
    """Host a whole challenge in one call: for demos and smoke tests.

    Creates (or reuses) challenge ``slug`` in the SQLite file ``database`` (a path or URL),
    adds one team per key of ``submissions``, submits an organizer ``baseline`` and each
    team's CSV, scores everything inline, prints the public leaderboard when ``show`` and
    returns it (the API's leaderboard dict).

    Example::

        from geoarena.leaderboard.demo import run_local_demo
        board = run_local_demo(database="demo.db", truth=truth_bytes,
                               submissions={"team-a": csv_bytes}, baseline=base_bytes)
    """
    url = database if "://" in database else f"sqlite:///{database}"
    db = open_database(url)
    try:
        with db.session() as session:
            exists = session.execute(select(Challenge.id).where(Challenge.slug == slug)).first()
        if not exists:
            create_challenge(
                db,
                slug=slug,
                title=title,
                truth=truth,
                rules=rules,
                daily_limit=None,
                concurrent_limit=None,
            )
        organizer = authenticate(db, issue_token(db, member="demo-organizer", role=ORGANIZER))
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
            principal = authenticate(
                db, issue_token(db, member=f"{team}-member", slug=slug, team=team)
            )
            submit(db, principal=principal, slug=slug, data=data, filename=f"{team}.csv")
        Worker(db).run(exit_when_idle=True)
        board = board_to_dict(*leaderboard(db, slug=slug))
        if show:
            Console(width=board_width()).print(board_table(board))
        return board
    finally:
        db.dispose()

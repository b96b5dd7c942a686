"""Challenge hosting: a SQL-backed leaderboard with teams, tokens, phases, quotas,
public/private splits, scoring workers, an HTTP API, web pages and a CLI.

The public API is re-exported here; ``geoarena.leaderboard.api.create_app`` builds the
FastAPI app and :class:`LeaderboardClient` talks to a running server.
"""

from geoarena.leaderboard.client import LeaderboardClient
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.demo import run_local_demo
from geoarena.leaderboard.service import (
    Principal,
    add_team,
    authenticate,
    create_challenge,
    get_quota,
    get_submission,
    issue_token,
    leaderboard,
    list_challenges,
    list_submissions,
    open_database,
    publish_rescore,
    rescore_status,
    reveal,
    revoke_token,
    select_finals,
    set_phase,
    start_rescore,
    submit,
    team_history,
)
from geoarena.leaderboard.worker import Worker

__all__ = [
    "Database",
    "LeaderboardClient",
    "Principal",
    "Worker",
    "add_team",
    "authenticate",
    "create_challenge",
    "get_quota",
    "get_submission",
    "issue_token",
    "leaderboard",
    "list_challenges",
    "list_submissions",
    "open_database",
    "publish_rescore",
    "rescore_status",
    "reveal",
    "revoke_token",
    "run_local_demo",
    "select_finals",
    "set_phase",
    "start_rescore",
    "submit",
    "team_history",
]

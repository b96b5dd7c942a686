"""Challenge hosting: a SQL-backed leaderboard with teams, tokens, phases, quotas,
public/private splits, scoring workers, an HTTP API, web pages and a CLI.

Modules, by concept: ``challenges`` (challenges, phases, teams), ``access`` (tokens, who
may do what), ``submissions`` (upload and views), ``quotas``, ``finals`` (final
selections, reveal), ``boards`` + ``ranking`` (the ranked ``Board``), ``rescoring``,
``queue`` (the job queue) + ``worker`` (scoring), ``db`` + ``schema`` + ``migrations``
(storage), ``api`` (FastAPI app and pages), ``cli``, ``client`` (HTTP client), ``demo``.
The public API is re-exported here.
"""

from geoarena.leaderboard.access import (
    Principal,
    TokenView,
    authenticate,
    issue_token,
    list_tokens,
    revoke_token,
)
from geoarena.leaderboard.boards import Board, BoardRow, leaderboard
from geoarena.leaderboard.challenges import (
    ChallengeView,
    PhaseChange,
    PhaseView,
    TeamView,
    add_team,
    create_challenge,
    list_challenges,
    list_teams,
    set_phase,
)
from geoarena.leaderboard.client import LeaderboardClient
from geoarena.leaderboard.db import Database, open_database
from geoarena.leaderboard.demo import run_local_demo
from geoarena.leaderboard.finals import close_phase, reopen_phase, reveal, select_finals
from geoarena.leaderboard.moderation import (
    exclude_submission,
    exclude_team,
    reinstate_submission,
    reinstate_team,
)
from geoarena.leaderboard.queue import JobQueue
from geoarena.leaderboard.quotas import Quota, get_quota
from geoarena.leaderboard.rescoring import (
    RescoreView,
    discard_rescore,
    outdated_scores,
    publish_rescore,
    rescore_status,
    start_rescore,
)
from geoarena.leaderboard.scores import CityScore, SplitScore
from geoarena.leaderboard.settings import Settings
from geoarena.leaderboard.states import (
    Exclusion,
    FailureKind,
    JobState,
    LatePolicy,
    PhaseState,
    RescoreState,
    Role,
    Split,
    SubmissionState,
)
from geoarena.leaderboard.submissions import (
    SubmissionView,
    get_submission,
    list_submissions,
    submit,
    team_history,
)
from geoarena.leaderboard.worker import Worker

__all__ = [
    "Board",
    "BoardRow",
    "ChallengeView",
    "CityScore",
    "Database",
    "Exclusion",
    "FailureKind",
    "JobQueue",
    "JobState",
    "LatePolicy",
    "LeaderboardClient",
    "PhaseChange",
    "PhaseState",
    "PhaseView",
    "Principal",
    "Quota",
    "RescoreState",
    "RescoreView",
    "Role",
    "Settings",
    "Split",
    "SplitScore",
    "SubmissionState",
    "SubmissionView",
    "TeamView",
    "TokenView",
    "Worker",
    "add_team",
    "authenticate",
    "close_phase",
    "create_challenge",
    "discard_rescore",
    "exclude_submission",
    "exclude_team",
    "get_quota",
    "get_submission",
    "issue_token",
    "leaderboard",
    "list_challenges",
    "list_submissions",
    "list_teams",
    "list_tokens",
    "open_database",
    "outdated_scores",
    "publish_rescore",
    "reinstate_submission",
    "reinstate_team",
    "reopen_phase",
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

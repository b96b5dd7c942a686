"""Challenge hosting: a SQL-backed leaderboard with teams, tokens, phases, quotas,
public/private splits, scoring workers, an HTTP API, web pages and a CLI.

Modules, by concept: ``challenges`` (challenges, phases, teams), ``access`` (tokens, who
may do what), ``submissions`` (upload and views), ``quotas``, ``finals`` (final
selections, reveal), ``boards`` + ``ranking`` (the ranked ``Board``), ``rescoring``,
``queue`` (the job queue) + ``worker`` (scoring), ``db`` + ``schema`` + ``migrations``
(storage), ``api`` (FastAPI app and pages), ``cli``, ``client`` (HTTP client), ``demo``.
The public API is re-exported here, loaded on first use: the scoring workers' and the
validation processes' imports stay small (a validation process needs no web framework).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from geoarena.leaderboard.access import (
        Principal,
        TokenView,
        authenticate,
        issue_token,
        list_tokens,
        revoke_token,
    )
    from geoarena.leaderboard.boards import (
        Board,
        BoardRow,
        Shakeup,
        leaderboard,
        shakeup,
    )
    from geoarena.leaderboard.challenges import (
        ChallengeText,
        ChallengeView,
        TeamView,
        add_team,
        challenge_view,
        create_challenge,
        edit_challenge,
        list_challenges,
        list_teams,
        sample_submission,
        set_phase,
    )
    from geoarena.leaderboard.client import LeaderboardClient
    from geoarena.leaderboard.db import (
        Database,
        open_database,
    )
    from geoarena.leaderboard.demo import run_local_demo
    from geoarena.leaderboard.finals import (
        close_phase,
        reopen_phase,
        reveal,
        select_finals,
    )
    from geoarena.leaderboard.honest_ranks import Gap
    from geoarena.leaderboard.moderation import (
        exclude_submission,
        exclude_team,
        reinstate_submission,
        reinstate_team,
    )
    from geoarena.leaderboard.phases import PhaseChange, PhaseView
    from geoarena.leaderboard.queue import JobQueue
    from geoarena.leaderboard.quotas import (
        Quota,
        get_quota,
    )
    from geoarena.leaderboard.rescoring import (
        RescoreView,
        discard_rescore,
        outdated_scores,
        publish_rescore,
        rescore_status,
        start_rescore,
    )
    from geoarena.leaderboard.scores import (
        CityScore,
        SplitScore,
    )
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
        submission_file,
        submit,
        team_history,
    )
    from geoarena.leaderboard.worker import Worker

#: public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "submission_file": "geoarena.leaderboard.submissions",
    "Gap": "geoarena.leaderboard.honest_ranks",
    "sample_submission": "geoarena.leaderboard.challenges",
    "edit_challenge": "geoarena.leaderboard.challenges",
    "challenge_view": "geoarena.leaderboard.challenges",
    "ChallengeText": "geoarena.leaderboard.challenges",
    "shakeup": "geoarena.leaderboard.boards",
    "Shakeup": "geoarena.leaderboard.boards",
    "Principal": "geoarena.leaderboard.access",
    "TokenView": "geoarena.leaderboard.access",
    "authenticate": "geoarena.leaderboard.access",
    "issue_token": "geoarena.leaderboard.access",
    "list_tokens": "geoarena.leaderboard.access",
    "revoke_token": "geoarena.leaderboard.access",
    "Board": "geoarena.leaderboard.boards",
    "BoardRow": "geoarena.leaderboard.boards",
    "leaderboard": "geoarena.leaderboard.boards",
    "ChallengeView": "geoarena.leaderboard.challenges",
    "PhaseChange": "geoarena.leaderboard.phases",
    "PhaseView": "geoarena.leaderboard.phases",
    "TeamView": "geoarena.leaderboard.challenges",
    "add_team": "geoarena.leaderboard.challenges",
    "create_challenge": "geoarena.leaderboard.challenges",
    "list_challenges": "geoarena.leaderboard.challenges",
    "list_teams": "geoarena.leaderboard.challenges",
    "set_phase": "geoarena.leaderboard.challenges",
    "LeaderboardClient": "geoarena.leaderboard.client",
    "Database": "geoarena.leaderboard.db",
    "open_database": "geoarena.leaderboard.db",
    "run_local_demo": "geoarena.leaderboard.demo",
    "close_phase": "geoarena.leaderboard.finals",
    "reopen_phase": "geoarena.leaderboard.finals",
    "reveal": "geoarena.leaderboard.finals",
    "select_finals": "geoarena.leaderboard.finals",
    "exclude_submission": "geoarena.leaderboard.moderation",
    "exclude_team": "geoarena.leaderboard.moderation",
    "reinstate_submission": "geoarena.leaderboard.moderation",
    "reinstate_team": "geoarena.leaderboard.moderation",
    "JobQueue": "geoarena.leaderboard.queue",
    "Quota": "geoarena.leaderboard.quotas",
    "get_quota": "geoarena.leaderboard.quotas",
    "RescoreView": "geoarena.leaderboard.rescoring",
    "discard_rescore": "geoarena.leaderboard.rescoring",
    "outdated_scores": "geoarena.leaderboard.rescoring",
    "publish_rescore": "geoarena.leaderboard.rescoring",
    "rescore_status": "geoarena.leaderboard.rescoring",
    "start_rescore": "geoarena.leaderboard.rescoring",
    "CityScore": "geoarena.leaderboard.scores",
    "SplitScore": "geoarena.leaderboard.scores",
    "Settings": "geoarena.leaderboard.settings",
    "Exclusion": "geoarena.leaderboard.states",
    "FailureKind": "geoarena.leaderboard.states",
    "JobState": "geoarena.leaderboard.states",
    "LatePolicy": "geoarena.leaderboard.states",
    "PhaseState": "geoarena.leaderboard.states",
    "RescoreState": "geoarena.leaderboard.states",
    "Role": "geoarena.leaderboard.states",
    "Split": "geoarena.leaderboard.states",
    "SubmissionState": "geoarena.leaderboard.states",
    "SubmissionView": "geoarena.leaderboard.submissions",
    "get_submission": "geoarena.leaderboard.submissions",
    "list_submissions": "geoarena.leaderboard.submissions",
    "submit": "geoarena.leaderboard.submissions",
    "team_history": "geoarena.leaderboard.submissions",
    "Worker": "geoarena.leaderboard.worker",
}

__all__ = [
    "Board",
    "BoardRow",
    "ChallengeText",
    "ChallengeView",
    "CityScore",
    "Database",
    "Exclusion",
    "FailureKind",
    "Gap",
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
    "Shakeup",
    "Split",
    "SplitScore",
    "SubmissionState",
    "SubmissionView",
    "TeamView",
    "TokenView",
    "Worker",
    "add_team",
    "authenticate",
    "challenge_view",
    "close_phase",
    "create_challenge",
    "discard_rescore",
    "edit_challenge",
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
    "sample_submission",
    "select_finals",
    "set_phase",
    "shakeup",
    "start_rescore",
    "submission_file",
    "submit",
    "team_history",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'geoarena.leaderboard' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

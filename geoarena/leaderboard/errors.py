"""The leaderboard's own refusals, under the package's error root.

They say what went wrong in domain terms; ``api/errors.py`` alone turns them into HTTP
statuses and the command line into exit codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geoarena.errors import Conflict, GeoarenaError, LimitExceeded

if TYPE_CHECKING:
    from geoarena.leaderboard.quotas import Quota


class Unauthorized(GeoarenaError):
    """No credentials, or credentials that name nobody (unknown, malformed, revoked)."""


class PhaseClosed(Conflict):
    """The phase does not take submissions now."""


class QuotaExceeded(LimitExceeded):
    """The team has no submission left; ``quota`` says which limit and when it resets."""

    def __init__(self, message: str, quota: Quota) -> None:
        super().__init__(message, retry_after=quota.retry_after)
        self.quota = quota


class SchemaMismatch(Conflict):
    """The database's schema is not the one this version of geoarena expects."""

"""Errors a participant or organizer can act on; each maps to one HTTP status."""

from __future__ import annotations


class LeaderboardError(Exception):
    """Base class; ``status_code`` is the HTTP status the API answers with."""

    status_code = 400


class NotFound(LeaderboardError):
    status_code = 404


class Forbidden(LeaderboardError):
    status_code = 403


class Conflict(LeaderboardError):
    status_code = 409


class PhaseClosed(LeaderboardError):
    status_code = 403


class QuotaExceeded(LeaderboardError):
    """The team has no submission left; ``quota`` says which limit and when it resets."""

    status_code = 429

    def __init__(self, message: str, quota: dict[str, object]) -> None:
        super().__init__(message)
        self.quota = quota

"""Leaderboard settings, read from ``GEOARENA_*`` environment variables.

One settings class served by a cached function (rather than a module-level object) so that
tests and the CLI can build their own instance and hand it to the app factory.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Knobs of a leaderboard deployment; every one has a safe default for a small challenge."""

    model_config = SettingsConfigDict(env_prefix="GEOARENA_", extra="ignore")

    #: SQLAlchemy URL; ``postgresql://`` URLs are normalised to the psycopg 3 driver.
    database_url: str = "sqlite:///geoarena.db"
    #: hard cap on an uploaded CSV, enforced while the body streams in.
    max_upload_bytes: int = 200 * 1024 * 1024
    #: vertex-count limit per polygon passed to the evaluator's reader.
    max_vertices: int = 10_000
    #: row-level errors returned for a rejected file (the rest are counted).
    max_reported_errors: int = 50
    #: seconds a worker owns a claimed job before another worker may take it over.
    lease_seconds: float = 60.0
    #: scoring attempts before a job is failed as a platform error (never counted to quota).
    max_attempts: int = 3
    #: requests per minute allowed per token (token bucket, per server process).
    rate_limit_per_minute: int = 120
    #: uploads validated at once per server process (each parses a whole CSV in memory);
    #: further uploads wait their turn instead of exhausting memory.
    max_parallel_uploads: int = 4
    #: number of inline scoring worker threads started with ``serve --workers N``.
    inline_workers: int = 0


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (environment is read once)."""
    return Settings()


def normalise_url(url: str) -> str:
    """Route plain PostgreSQL URLs to psycopg 3, the only PostgreSQL driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url

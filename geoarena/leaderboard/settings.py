"""Leaderboard settings, read from ``GEOARENA_*`` environment variables.

One settings class served by a cached function (rather than a module-level object) so that
tests and the CLI can build their own instance and hand it to the app factory.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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
    #: uploads validated at once per server (each in its own process, in bounded memory);
    #: further uploads wait for a slot before their body is read.
    max_parallel_uploads: int = 2
    #: validate uploads in a pool of processes (the server keeps answering while large
    #: files are parsed); off, they are validated in the server's own threads.
    validate_in_processes: bool = True
    #: seconds an upload may wait for a validation slot before the server answers "busy".
    upload_wait_seconds: float = 120.0
    #: folder for upload spool files (default: the system's temporary folder).
    spool_dir: Path | None = None
    #: number of inline scoring worker threads started with ``serve --workers N``.
    inline_workers: int = 0
    #: seconds a client may take to send a request's headers (slow-header attacks).
    header_timeout_seconds: float = 10.0
    #: seconds an upload's body may stall between two chunks.
    body_idle_seconds: float = 30.0
    #: seconds a whole upload body may take to arrive.
    body_total_seconds: float = 900.0
    #: seconds an idle keep-alive connection stays open.
    keep_alive_seconds: int = 5
    #: connections (and requests in flight) a server holds at once; more get 503.
    max_connections: int = 200
    #: key that signs the pages' form tokens (CSRF); unset, each server process draws its
    #: own at start, so set it when several processes serve one site behind a balancer.
    secret_key: str | None = None
    #: login cookies marked ``Secure``: True, False, or unset for "when the request came
    #: over TLS" (https, or ``X-Forwarded-Proto: https`` from a trusted proxy).
    secure_cookies: bool | None = None
    #: addresses whose ``X-Forwarded-Proto`` header is believed (a TLS-terminating proxy).
    trusted_proxies: list[str] = ["127.0.0.1", "::1"]


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

"""Database fixtures: every database test runs on SQLite and, when
GEOARENA_TEST_POSTGRES_URL is set, on PostgreSQL in a schema of its own (other
components' tests share the ``test`` database)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from geoarena.leaderboard.db import Database

ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _postgres_schema_url(base: str) -> Iterator[str]:
    """A fresh schema on the PostgreSQL server at ``base``, dropped afterwards."""
    schema = f"lb_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def engine_url(engine: str, sqlite_file: Path) -> Iterator[str]:
    """URL of an empty database on ``engine`` (an ``ENGINES`` value): the SQLite file
    ``sqlite_file``, or a private PostgreSQL schema (skipped when
    GEOARENA_TEST_POSTGRES_URL is not set). Module-scoped fixtures use it too."""
    if engine == "sqlite":
        yield f"sqlite:///{sqlite_file}"
        return
    base = os.environ.get("GEOARENA_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("GEOARENA_TEST_POSTGRES_URL is not set")
    yield from _postgres_schema_url(base)


def migrated(url: str) -> Iterator[Database]:
    """A migrated database at ``url``, disposed afterwards."""
    database = Database(url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database (SQLite file, or a private PostgreSQL schema)."""
    yield from engine_url(request.param, tmp_path / "lb.db")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'lb.db'}"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated database on each engine."""
    yield from migrated(db_url)


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    yield from migrated(sqlite_url)

"""Database fixtures: every database test runs on SQLite and, when
GEOARENA_TEST_POSTGRES_URL is set, on PostgreSQL in a schema of its own (other
components' tests share the ``test`` database)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

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


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """URL of an empty database (SQLite file, or a private PostgreSQL schema)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'lb.db'}"
        return
    base = os.environ.get("GEOARENA_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("GEOARENA_TEST_POSTGRES_URL is not set")
    yield from _postgres_schema_url(base)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'lb.db'}"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated database on each engine."""
    database = Database(db_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    database.migrate()
    yield database
    database.dispose()

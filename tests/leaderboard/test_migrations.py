"""The Alembic migrations build exactly the ORM schema, on every engine."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from geoarena.leaderboard.db import Database
from geoarena.leaderboard.schema import Base


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    db.migrate()  # a second upgrade is a no-op
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    db.dispose()
    assert diff == []
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_upgrade_from_empty_step_by_step_equals_fresh(db_url: str, tmp_path) -> None:
    """Base -> each revision in turn ends where a one-shot upgrade to head does."""
    from alembic.script import ScriptDirectory

    from geoarena.leaderboard.db import alembic_config

    db = Database(db_url)
    revisions = [r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()]
    for revision in reversed(revisions):
        db.migrate(revision)
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    db.dispose()

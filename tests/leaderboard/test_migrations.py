"""The Alembic migrations build exactly the ORM schema, on every engine."""

from __future__ import annotations

from datetime import datetime

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


def test_upgrade_keeps_existing_data(db_url: str) -> None:
    """A database holding a challenge at revision 0001 upgrades to head with its data."""
    from sqlalchemy import text

    db = Database(db_url)
    db.migrate("0001")
    with db.engine.connect() as conn:
        assert "board_version" not in {c["name"] for c in inspect(conn).get_columns("phases")}
    with db.write_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO blobs (sha256, size, compression, data, created_at) "
                "VALUES ('ab', 1, 'none', :data, :now)"
            ),
            {"data": b"x", "now": datetime(2026, 1, 1)},
        )
        conn.execute(
            text(
                "INSERT INTO challenges (id, slug, title, description, rules, ranking_metric, "
                "truth_sha256, truth_filename, split_source, split_salt, created_at) VALUES "
                "(1, 'old', 'Old', '', 'deepglobe', 'f1', 'ab', 't.csv', 'hash', 's', :now)"
            ),
            {"now": datetime(2026, 1, 1)},
        )
        conn.execute(
            text(
                "INSERT INTO phases (id, challenge_id, name, final_selections, public_fraction) "
                "VALUES (1, 1, 'main', 2, 0.3)"
            )
        )
    db.migrate()
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT name, board_version FROM phases")).one()
        assert tuple(row) == ("main", 0)
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    db.dispose()

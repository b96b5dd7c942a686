"""The Alembic migrations build exactly the ORM schema, on every engine."""

from __future__ import annotations

from datetime import datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

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


NOW = datetime(2026, 1, 1)
#: rows as revision 0001 has them; the tests of later revisions add that revision's columns.
BLOB = {"sha256": "ab", "size": 1, "compression": "none", "data": b"x", "created_at": NOW}
CHALLENGE = {
    "id": 1,
    "slug": "old",
    "title": "Old",
    "description": "",
    "rules": "deepglobe",
    "ranking_metric": "f1",
    "truth_sha256": "ab",
    "truth_filename": "t.csv",
    "split_source": "hash",
    "split_salt": "s",
    "created_at": NOW,
}
PHASE = {"id": 1, "challenge_id": 1, "name": "main", "final_selections": 2}
SUBMISSION = {
    "id": 1,
    "uuid": "u1",
    "phase_id": 1,
    "file_sha256": "ab",
    "file_size": 1,
    "filename": "f.csv",
    "description": "",
    "status": "scored",
    "is_baseline": False,
    "selected_final": False,
    "created_at": NOW,
}
SCORE = {
    "submission_id": 1,
    "split": "public",
    "generation": 0,
    "f1": 0.5,
    "precision": 0.5,
    "recall": 0.5,
    "tp": 1,
    "fp": 1,
    "fn": 1,
    "mean_city_f1": 0.5,
    "cities": "{}",
    "rules": "deepglobe",
    "evaluator_version": "1",
    "truth_sha256": "ab",
    "created_at": NOW,
}


def _insert(conn: Connection, table: str, row: dict[str, object], **more: object) -> None:
    """One row in raw SQL: an old revision's schema, which the ORM no longer maps."""
    values = {**row, **more}
    columns, marks = ", ".join(values), ", ".join(f":{name}" for name in values)
    conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({marks})"), values)


def test_upgrade_keeps_existing_data(db_url: str) -> None:
    """A database holding a challenge at revision 0001 upgrades to head with its data."""
    db = Database(db_url)
    db.migrate("0001")
    with db.engine.connect() as conn:
        assert "board_version" not in {c["name"] for c in inspect(conn).get_columns("phases")}
    with db.write_engine.begin() as conn:
        _insert(conn, "blobs", BLOB)
        _insert(conn, "challenges", CHALLENGE)
        _insert(conn, "phases", PHASE, public_fraction=0.3)
    db.migrate()
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT name, board_version FROM phases")).one()
        assert tuple(row) == ("main", 0)
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    db.dispose()


def test_upgrade_to_0003_keeps_what_the_boards_showed(db_url: str) -> None:
    """0002 -> 0003: the published generation, the reveal and the split move to their new
    places, so an upgraded challenge shows exactly what it showed before."""
    db = Database(db_url)
    db.migrate("0002")
    with db.write_engine.begin() as conn:
        _insert(conn, "blobs", BLOB)
        _insert(conn, "challenges", CHALLENGE, revealed_at=NOW)
        _insert(conn, "phases", PHASE, public_fraction=0.4, board_version=0)
        _insert(conn, "submissions", SUBMISSION)
        rescore = {"id": 7, "challenge_id": 1, "truth_sha256": "ab", "truth_filename": "t.csv"}
        _insert(conn, "rescores", rescore, reason="", status="published", created_at=NOW)
        for generation, current in ((0, False), (7, True)):
            _insert(conn, "scores", SCORE, generation=generation, current=current)
    db.migrate()
    with db.engine.connect() as conn:
        challenge = conn.execute(
            text("SELECT generation, public_fraction, split_source FROM challenges")
        ).one()
        assert tuple(challenge) == (7, 0.4, "hash")  # legacy split method kept
        assert conn.execute(text("SELECT revealed_at FROM phases")).scalar_one() is not None
        rescore = conn.execute(text("SELECT split_salt, public_fraction FROM rescores")).one()
        assert tuple(rescore) == ("s", 0.4)
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    db.downgrade("0002")  # and back down
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT generation, current FROM scores ORDER BY generation"))
        assert [tuple(r) for r in rows] == [(0, False), (7, True)]
    db.dispose()


def test_upgrade_to_0004_keeps_scores_without_per_image_counts(db_url: str) -> None:
    """0003 -> 0004: old scores stay as they were, with no per-image counts (the board
    shows them without an interval), challenges get empty rules and data texts; and back
    down to 0003 with the scores intact."""
    from geoarena import leaderboard as lb

    db = Database(db_url)
    db.migrate("0003")
    with db.write_engine.begin() as conn:
        _insert(conn, "blobs", BLOB)
        latest = {"split_source": "hash-city", "public_fraction": 0.3, "generation": 0}
        _insert(conn, "challenges", {**CHALLENGE, **latest})
        _insert(conn, "phases", PHASE, board_version=0, late_policy="refuse")
        for team_id, name in ((1, "a"), (2, "b")):
            team = {"id": team_id, "challenge_id": 1, "name": name}
            _insert(conn, "teams", team, lock_version=0, created_at=NOW)
            late = {"team_id": team_id, "is_late": False}
            _insert(conn, "submissions", SUBMISSION, id=team_id, uuid=f"u{team_id}", **late)
            for split in ("public", "private"):
                value = 0.9 - 0.1 * team_id
                scored = {"split": split, "f1": value, "mean_city_f1": value}
                _insert(conn, "scores", SCORE, submission_id=team_id, **scored)
    db.migrate()
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        counts = conn.execute(text("SELECT image_ids_sha256, image_counts FROM scores")).all()
        assert counts and all(tuple(r) == (None, None) for r in counts)
    view = lb.challenge_view(db, slug="old")
    assert (view.terms, view.data_description) == ("", "")
    board = lb.leaderboard(db, slug="old")
    assert [(r.team, round(r.value, 2), r.gap) for r in board.rows] == [
        ("a", 0.8, None),
        ("b", 0.7, None),
    ]
    assert board.gaps_pending == 0
    db.downgrade("0003")
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM scores")).scalar_one() == 4
        columns = {c["name"] for c in inspect(conn).get_columns("scores")}
        assert "image_counts" not in columns
    db.dispose()

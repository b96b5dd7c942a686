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


def test_upgrade_to_0003_keeps_what_the_boards_showed(db_url: str) -> None:
    """0002 -> 0003: the published generation, the reveal and the split move to their new
    places, so an upgraded challenge shows exactly what it showed before."""
    from sqlalchemy import text

    db = Database(db_url)
    db.migrate("0002")
    now = datetime(2026, 1, 1)
    with db.write_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO blobs (sha256, size, compression, data, created_at) "
                "VALUES ('ab', 1, 'none', :data, :now)"
            ),
            {"data": b"x", "now": now},
        )
        conn.execute(
            text(
                "INSERT INTO challenges (id, slug, title, description, rules, ranking_metric, "
                "truth_sha256, truth_filename, split_source, split_salt, revealed_at, "
                "created_at) VALUES (1, 'old', 'Old', '', 'deepglobe', 'f1', 'ab', 't.csv', "
                "'hash', 's', :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO phases (id, challenge_id, name, final_selections, public_fraction,"
                " board_version) VALUES (1, 1, 'main', 2, 0.4, 0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO submissions (id, uuid, phase_id, file_sha256, file_size, "
                "filename, description, status, is_baseline, selected_final, created_at) "
                "VALUES (1, 'u1', 1, 'ab', 1, 'f.csv', '', 'scored', false, false, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO rescores (id, challenge_id, truth_sha256, truth_filename, reason, "
                "status, created_at) VALUES (7, 1, 'ab', 't.csv', '', 'published', :now)"
            ),
            {"now": now},
        )
        for generation, current in ((0, False), (7, True)):
            conn.execute(
                text(
                    "INSERT INTO scores (submission_id, split, generation, current, f1, "
                    "precision, recall, tp, fp, fn, mean_city_f1, cities, rules, "
                    "evaluator_version, truth_sha256, created_at) VALUES (1, 'public', :g, "
                    ":c, 0.5, 0.5, 0.5, 1, 1, 1, 0.5, '{}', 'deepglobe', '1', 'ab', :now)"
                ),
                {"g": generation, "c": current, "now": now},
            )
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
    from sqlalchemy import text

    from geoarena import leaderboard as lb

    db = Database(db_url)
    db.migrate("0003")
    now = datetime(2026, 1, 1)
    with db.write_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO blobs (sha256, size, compression, data, created_at) "
                "VALUES ('ab', 1, 'none', :data, :now)"
            ),
            {"data": b"x", "now": now},
        )
        conn.execute(
            text(
                "INSERT INTO challenges (id, slug, title, description, rules, ranking_metric, "
                "truth_sha256, truth_filename, split_source, split_salt, public_fraction, "
                "generation, created_at) VALUES (1, 'old', 'Old', '', 'deepglobe', 'f1', 'ab', "
                "'t.csv', 'hash-city', 's', 0.3, 0, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO phases (id, challenge_id, name, final_selections, board_version, "
                "late_policy) VALUES (1, 1, 'main', 2, 0, 'refuse')"
            )
        )
        for team_id, name in ((1, "a"), (2, "b")):
            conn.execute(
                text(
                    "INSERT INTO teams (id, challenge_id, name, lock_version, created_at) "
                    "VALUES (:i, 1, :n, 0, :now)"
                ),
                {"i": team_id, "n": name, "now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO submissions (id, uuid, phase_id, team_id, file_sha256, "
                    "file_size, filename, description, status, is_baseline, selected_final, "
                    "is_late, created_at) VALUES (:i, :u, 1, :i, 'ab', 1, 'f.csv', '', "
                    "'scored', false, false, false, :now)"
                ),
                {"i": team_id, "u": f"u{team_id}", "now": now},
            )
            for split in ("public", "private"):
                conn.execute(
                    text(
                        "INSERT INTO scores (submission_id, split, generation, f1, precision, "
                        "recall, tp, fp, fn, mean_city_f1, cities, rules, evaluator_version, "
                        "truth_sha256, created_at) VALUES (:i, :s, 0, :f, 0.5, 0.5, 1, 1, 1, "
                        ":f, '{}', 'deepglobe', '1', 'ab', :now)"
                    ),
                    {"i": team_id, "s": split, "f": 0.9 - 0.1 * team_id, "now": now},
                )
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

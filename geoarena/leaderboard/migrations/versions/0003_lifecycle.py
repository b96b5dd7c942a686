"""phase life cycle, per-phase reveal, score generations, exclusions, parsed tables

- phases: ``closed_at``, ``revealed_at`` (was the challenge's), ``finals_until``,
  ``late_policy``; ``public_fraction`` moves to the challenge (the split is one per
  challenge and frozen at the first submission).
- challenges: ``generation`` replaces ``scores.current``: the boards show the scores of the
  challenge's generation, so they can never mix two truths. It is set to the generation of
  the scores that were current.
- teams and submissions: ``excluded`` / ``excluded_reason`` (hidden or disqualified).
- submissions: ``is_late``, ``table_sha256`` (the columnar table validated at upload).
- rescores: the split they score with.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("challenges") as batch:
        batch.add_column(
            sa.Column("public_fraction", sa.Float(), nullable=False, server_default="0.3")
        )
        batch.add_column(sa.Column("generation", sa.Integer(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE challenges SET public_fraction = COALESCE((SELECT MIN(p.public_fraction) "
        "FROM phases p WHERE p.challenge_id = challenges.id), 0.3)"
    )
    op.execute(
        "UPDATE challenges SET generation = COALESCE((SELECT MAX(s.generation) FROM scores s "
        "JOIN submissions u ON u.id = s.submission_id JOIN phases p ON p.id = u.phase_id "
        "WHERE p.challenge_id = challenges.id AND s.current), 0)"
    )
    with op.batch_alter_table("phases") as batch:
        batch.add_column(sa.Column("finals_until", sa.DateTime(), nullable=True))
        batch.add_column(
            sa.Column("late_policy", sa.String(16), nullable=False, server_default="refuse")
        )
        batch.add_column(sa.Column("closed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("revealed_at", sa.DateTime(), nullable=True))
    op.execute(
        "UPDATE phases SET revealed_at = (SELECT c.revealed_at FROM challenges c "
        "WHERE c.id = phases.challenge_id)"
    )
    with op.batch_alter_table("phases") as batch:
        batch.drop_column("public_fraction")
    with op.batch_alter_table("challenges") as batch:
        batch.drop_column("revealed_at")
    for table in ("teams", "submissions"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("excluded", sa.String(16), nullable=True))
            batch.add_column(sa.Column("excluded_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(
            sa.Column("is_late", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("table_sha256", sa.String(64), nullable=True))
        batch.create_foreign_key(
            op.f("fk_submissions_table_sha256_blobs"), "blobs", ["table_sha256"], ["sha256"]
        )
    with op.batch_alter_table("rescores") as batch:
        batch.add_column(sa.Column("split_source", sa.String(16), nullable=True))
        batch.add_column(sa.Column("split_salt", sa.String(64), nullable=True))
        batch.add_column(sa.Column("public_fraction", sa.Float(), nullable=True))
    for column in ("split_source", "split_salt", "public_fraction"):
        op.execute(
            f"UPDATE rescores SET {column} = (SELECT c.{column} FROM challenges c "
            "WHERE c.id = rescores.challenge_id)"
        )
    with op.batch_alter_table("rescores") as batch:
        batch.alter_column("split_source", existing_type=sa.String(16), nullable=False)
        batch.alter_column("split_salt", existing_type=sa.String(64), nullable=False)
        batch.alter_column("public_fraction", existing_type=sa.Float(), nullable=False)
    with op.batch_alter_table("scores") as batch:
        batch.drop_column("current")


def downgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.add_column(
            sa.Column("current", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(
        "UPDATE scores SET current = (scores.generation = (SELECT c.generation FROM challenges c "
        "JOIN phases p ON p.challenge_id = c.id JOIN submissions u ON u.phase_id = p.id "
        "WHERE u.id = scores.submission_id))"
    )
    with op.batch_alter_table("rescores") as batch:
        batch.drop_column("public_fraction")
        batch.drop_column("split_salt")
        batch.drop_column("split_source")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_constraint(op.f("fk_submissions_table_sha256_blobs"), type_="foreignkey")
        batch.drop_column("table_sha256")
        batch.drop_column("is_late")
    for table in ("teams", "submissions"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("excluded_reason")
            batch.drop_column("excluded")
    with op.batch_alter_table("challenges") as batch:
        batch.add_column(sa.Column("revealed_at", sa.DateTime(), nullable=True))
    op.execute(
        "UPDATE challenges SET revealed_at = (SELECT MAX(p.revealed_at) FROM phases p "
        "WHERE p.challenge_id = challenges.id)"
    )
    with op.batch_alter_table("phases") as batch:
        batch.add_column(
            sa.Column("public_fraction", sa.Float(), nullable=False, server_default="0.3")
        )
    op.execute(
        "UPDATE phases SET public_fraction = (SELECT c.public_fraction FROM challenges c "
        "WHERE c.id = phases.challenge_id)"
    )
    with op.batch_alter_table("phases") as batch:
        batch.drop_column("revealed_at")
        batch.drop_column("closed_at")
        batch.drop_column("late_policy")
        batch.drop_column("finals_until")
    with op.batch_alter_table("challenges") as batch:
        batch.drop_column("generation")
        batch.drop_column("public_fraction")

"""per-image counts of every score (honest ranks), and the challenge's rules and data text

- scores: ``image_ids_sha256`` (a blob of the scored ImageIds, one per line, shared by
  every score that lists the same images) and ``image_counts`` (their TP/FP/FN as int32,
  zlib-compressed): what the paired bootstrap of neighbouring board rows resamples.
  Scores written before this revision keep NULL: the boards show them without an
  interval until a rescore computes them again.
- challenges: ``terms`` (the competition's rules) and ``data_description``, shown on the
  challenge page beside ``description``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.add_column(sa.Column("image_ids_sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("image_counts", sa.LargeBinary(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_scores_image_ids_sha256_blobs"), "blobs", ["image_ids_sha256"], ["sha256"]
        )
    with op.batch_alter_table("challenges") as batch:
        batch.add_column(sa.Column("terms", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("data_description", sa.Text(), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("challenges") as batch:
        batch.drop_column("data_description")
        batch.drop_column("terms")
    with op.batch_alter_table("scores") as batch:
        batch.drop_constraint(op.f("fk_scores_image_ids_sha256_blobs"), type_="foreignkey")
        batch.drop_column("image_counts")
        batch.drop_column("image_ids_sha256")

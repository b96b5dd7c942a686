"""the cities a score's mean per-city F1 counts without listing an image of them

- scores: ``unlisted_cities`` (one per line, NULL for none): under ``city_mean="seen"``
  (the TopCoder tester) a city whose rows were all filtered still counts, at F1 0, in the
  headline; the honest ranks' bootstrap needs it to average over the same cities as the
  board. Scores written before this revision keep NULL (their gaps averaged over the
  listed cities only, as before).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.add_column(sa.Column("unlisted_cities", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.drop_column("unlisted_cities")

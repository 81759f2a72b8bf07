"""Shots: the hard cuts the indexer found in each video (shot-aware windows never straddle one).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    # A database brought to the baseline from before migrations was made by the models: add what is missing.
    if "shots" not in inspector.get_table_names():
        op.create_table(
            "shots",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("video_id", sa.Integer(), nullable=False),
            sa.Column("idx", sa.Integer(), nullable=False),
            sa.Column("start", sa.Float(), nullable=False),
            sa.Column("end", sa.Float(), nullable=False),
            sa.ForeignKeyConstraint(["video_id"], ["videos.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_shots_video_idx", "shots", ["video_id", "idx"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_shots_video_idx", table_name="shots")
    op.drop_table("shots")

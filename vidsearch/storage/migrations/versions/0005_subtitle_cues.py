"""Subtitle cues: each indexed video's cues as found (own times, text and source), for the subtitle
exports, which wrote window spans before.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    # A database brought to the baseline from before migrations was made by the models: add what is missing.
    if "subtitle_cues" not in inspector.get_table_names():
        op.create_table(
            "subtitle_cues",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("video_id", sa.Integer(), nullable=False),
            sa.Column("idx", sa.Integer(), nullable=False),
            sa.Column("start", sa.Float(), nullable=False),
            sa.Column("end", sa.Float(), nullable=False),
            sa.Column("text", sa.Text(), nullable=False),
            sa.Column("source", sa.String(length=512), nullable=False),
            sa.ForeignKeyConstraint(["video_id"], ["videos.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_subtitle_cues_video_idx", "subtitle_cues", ["video_id", "idx"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_subtitle_cues_video_idx", table_name="subtitle_cues")
    op.drop_table("subtitle_cues")

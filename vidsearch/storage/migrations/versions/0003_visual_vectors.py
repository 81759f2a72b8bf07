"""A second vector space: windows' frame vectors under an image-text model, and index generations
that say which space they index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    # A database brought to the baseline from before migrations was made by the models: add what is missing.
    if "window_vectors" not in inspector.get_table_names():
        op.create_table(
            "window_vectors",
            sa.Column("window_id", sa.Integer(), nullable=False),
            sa.Column("embedder_id", sa.Integer(), nullable=False),
            sa.Column("vector", sa.LargeBinary(), nullable=False),
            sa.Column("frame_time", sa.Float(), nullable=False),
            sa.Column("frames", sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint(["embedder_id"], ["model_records.id"]),
            sa.ForeignKeyConstraint(["window_id"], ["windows.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("window_id", "embedder_id"),
        )
        op.create_index(op.f("ix_window_vectors_embedder_id"), "window_vectors", ["embedder_id"], unique=False)
    if "space" not in {c["name"] for c in inspector.get_columns("index_generations")}:
        op.add_column(
            "index_generations", sa.Column("space", sa.String(length=16), server_default="text", nullable=False)
        )


def downgrade() -> None:
    op.drop_column("index_generations", "space")
    op.drop_index(op.f("ix_window_vectors_embedder_id"), table_name="window_vectors")
    op.drop_table("window_vectors")

"""Windows imported from an exported catalogue remember whether an indexer cut them: a JSON Lines round
trip keeps the catalogue as it was, and indexing the video here replaces them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("windows")}
    # A database brought to the baseline from before migrations was made by the models: add what is missing.
    # Plain ALTER TABLE (no batch copy): re-creating `windows` on SQLite would cascade into its texts.
    if "cut_by_indexer" not in columns:
        op.add_column("windows", sa.Column("cut_by_indexer", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    op.drop_column("windows", "cut_by_indexer")

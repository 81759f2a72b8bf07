"""Imported windows carry their import and key (re-importing updates instead of duplicating, and
re-indexing a video keeps them); videos known only by a key get their own status.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    # A database brought to the baseline from before migrations was made by the models, which may
    # already have these: add what is missing only.
    columns = {c["name"] for c in inspector.get_columns("windows")}
    indexes = {i["name"] for i in inspector.get_indexes("windows")}
    # Plain ALTER TABLE (no batch copy): re-creating `windows` on SQLite would cascade into its texts.
    if "import_source" not in columns:
        op.add_column("windows", sa.Column("import_source", sa.String(length=1024), nullable=True))
    if "import_key" not in columns:
        op.add_column("windows", sa.Column("import_key", sa.String(length=128), nullable=True))
    # Windows imported before this revision: their file is not known. They keep a key of their own
    # (so they are never taken for the indexer's windows again); an import of the same rows adopts them.
    op.execute(
        "UPDATE windows SET import_source = '', import_key = 'legacy-' || CAST(id AS VARCHAR(20)) "
        "WHERE import_key IS NULL AND id IN (SELECT window_id FROM window_texts WHERE source = 'import')"
    )
    if "ix_windows_import_key" not in indexes:
        op.create_index(
            "ix_windows_import_key",
            "windows",
            ["import_source", "import_key"],
            unique=True,
            sqlite_where=sa.text("retired = 0 AND import_key IS NOT NULL"),
            postgresql_where=sa.text("retired = false AND import_key IS NOT NULL"),
        )
    # Videos an import made for a key that is no file here were stored as done: indexed videos always
    # have probe data, these never do.
    op.execute("UPDATE videos SET status = 'external' WHERE status = 'done' AND probe IS NULL")


def downgrade() -> None:
    op.execute("UPDATE videos SET status = 'done' WHERE status IN ('external', 'pending')")
    op.drop_index("ix_windows_import_key", table_name="windows")
    op.drop_column("windows", "import_key")
    op.drop_column("windows", "import_source")

"""Schema migrations with Alembic, run by vidsearch itself whenever it opens a database, so an upgrade
of vidsearch upgrades the schema (SQLite and PostgreSQL alike). Databases made before migrations
existed are brought to the baseline and stamped.

A database already at the newest revision (every open but the first after an upgrade) is told by one
read of its alembic_version table against HEAD: Alembic itself is imported only when there is work to
do (loading it and its scripts to find out cost 0.2 s of every command's start)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from vidsearch.storage import keywords
from vidsearch.storage.schema import Base

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
BASELINE = "0001"
# The newest revision in migrations/versions: a new migration moves it (tests/storage/test_database.py
# checks it against Alembic's own reading of the scripts).
HEAD = "0006"
# Objects the full-text engines own, not the models: comparisons of models and schema skip them.
_KEYWORD_OBJECTS = ("window_texts_fts", "tsv", "ix_window_texts_tsv")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (name and name.startswith(_KEYWORD_OBJECTS))


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema. Safe when two processes open a new database at once:
    the loser of the race finds the work done and retries."""
    if at_head(engine):
        return
    for attempt in (1, 2):
        try:
            with engine.begin() as conn:
                _upgrade(conn)
            return
        except (OperationalError, ProgrammingError) as exc:
            if attempt == 2 or "exist" not in str(exc):
                raise
            log.info("another process migrated this database at the same time; checking again")


def at_head(engine: Engine) -> bool:
    """Whether the database's schema is at HEAD already (False for a new database, one made before
    migrations, one at an older revision, and one at a revision this vidsearch does not know)."""
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()) == [HEAD]
    except (OperationalError, ProgrammingError):  # no such table
        return False


def _upgrade(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    if conn.dialect.name == "postgresql":  # one migrator at a time per database
        conn.execute(text("SELECT pg_advisory_xact_lock(724311)"))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" not in tables and "videos" in tables:
        _bring_legacy_to_baseline(conn, tables)
        command.stamp(config, BASELINE)
    command.upgrade(config, "head")


def _bring_legacy_to_baseline(conn: Connection, tables: set[str]) -> None:
    """A database from before migrations: add what the baseline has that it lacks."""
    log.info("bringing a database made before schema migrations to the baseline")
    Base.metadata.create_all(conn, tables=[t for name, t in Base.metadata.tables.items() if name not in tables])
    columns = {c["name"] for c in inspect(conn).get_columns("videos")}
    if "recorded_at" not in columns:
        kind = "DATETIME" if conn.dialect.name == "sqlite" else "TIMESTAMP WITH TIME ZONE"
        conn.execute(text(f"ALTER TABLE videos ADD COLUMN recorded_at {kind}"))
        conn.execute(text("CREATE INDEX IF NOT EXISTS ix_videos_recorded_at ON videos (recorded_at)"))
    keywords.install(conn)

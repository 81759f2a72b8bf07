"""Alembic environment: vidsearch runs migrations itself when it opens a database (storage/migrate.py),
on the connection it passes in; `alembic` on the command line is not needed."""

from __future__ import annotations

from alembic import context

from vidsearch.storage.migrate import include_object
from vidsearch.storage.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, include_object=include_object)
with context.begin_transaction():
    context.run_migrations()

"""Alembic environment: runs on the connection handed in by `monitor.migrate`."""

from alembic import context

from monitor import models  # noqa: F401  (registers the tables)
from monitor.db import Base

config = context.config
connection = config.attributes["connection"]
# Batch mode (copy the table to alter it) is what SQLite needs, so this asks for SQLite by name
# rather than for "not PostgreSQL" (db.is_postgres).
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
with context.begin_transaction():
    context.run_migrations()

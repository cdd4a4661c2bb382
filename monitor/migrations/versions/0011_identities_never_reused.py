"""subscriber ids never reused, a secret per subscriber for its links; capped and held mail

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 04:30:00

- `subscribers`, `deliveries` and `mails` get AUTOINCREMENT on SQLite (rebuilt in batch mode),
  so an id once given is never given again (PostgreSQL's sequences never reuse one anyway).
- `subscribers.link_key`: a random secret per row, carried and checked by every link. Rows
  that exist now keep NULL, and their links, mailed without a key, keep working; every new
  row gets a key, so a key-less link can never open it.
- `deliveries.summary_id`: the summary mail a delivery went out in (the hourly cap).
- `notice_updates.held`: updates of a poll over `[notices] max_new_per_poll`, waiting for an
  operator to release or discard them.

`monitor.migrate.upgrade` turns SQLite's foreign keys off around the migrations: dropping the
old `subscribers` would otherwise cascade to the rows that refer to it.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REBUILT = ("subscribers", "deliveries", "mails")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    with op.batch_alter_table("subscribers", recreate="always" if _sqlite() else "auto",
                              table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column("link_key", sa.String(length=32), nullable=True))
    with op.batch_alter_table("deliveries", recreate="always" if _sqlite() else "auto",
                              table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column("summary_id", sa.Integer(), nullable=True))
    if _sqlite():
        with op.batch_alter_table("mails", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass
    with op.batch_alter_table("notice_updates") as batch_op:
        batch_op.add_column(sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("notice_updates") as batch_op:
        batch_op.drop_column("held")
    if _sqlite():
        with op.batch_alter_table("mails", recreate="always", table_kwargs={"sqlite_autoincrement": False}):
            pass
    with op.batch_alter_table("deliveries", recreate="always" if _sqlite() else "auto",
                              table_kwargs={"sqlite_autoincrement": False}) as batch_op:
        batch_op.drop_column("summary_id")
    with op.batch_alter_table("subscribers", recreate="always" if _sqlite() else "auto",
                              table_kwargs={"sqlite_autoincrement": False}) as batch_op:
        batch_op.drop_column("link_key")

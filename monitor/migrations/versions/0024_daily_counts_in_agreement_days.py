"""agreement_days holds the daily counts: `daily_calls` is merged into it

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 19:00:00

A daily count was written twice: into `daily_calls` and, as its day's calls, into
`agreement_days`. Each import of daily counts paid two keyed writes on the server (on
PostgreSQL 1.7× and 1.9× a bare COPY of the file, docs/performance.md). A day row now *is* the
daily count when one exists: `agreement_days` gains `errors` and `daily` (true: the row is the
supplier's daily count, with its errors; false: the sum of the day's hours, kept by every
import of hours), and the table `daily_calls` is dropped. The upgrade moves every daily count
into its day row and leaves a view by the old name, `daily_calls`, of the rows marked daily,
for anyone who reads the daily counts as imported (it cannot be written to); the downgrade
makes the table again from those rows.

The index by (agreement_id, day, calls) of migration 0023 is dropped. Every row an import
writes went into it out of order (an import writes day by day, the index is by agreement): on
PostgreSQL a COPY of 300,000 new daily counts into the table took 0.46 s without it and 1.05 s
with it (a bare COPY 0.21 s), on SQLite an `executemany` 0.7 s and 1.8 s. The rating and one
municipality's page read the day key's 90-day span instead, which does not grow with the table
(docs/performance.md).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MERGE = """
INSERT INTO agreement_days (day, agreement_id, calls, errors, daily)
SELECT day, agreement_id, calls, errors, true FROM daily_calls WHERE true
ON CONFLICT (day, agreement_id) DO UPDATE SET calls = excluded.calls, errors = excluded.errors, daily = true
"""

# The daily counts as imported, read-only.
VIEW = "CREATE VIEW daily_calls AS SELECT agreement_id, day, calls, errors FROM agreement_days WHERE daily"


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    """Add `errors` and `daily` to `agreement_days`, move the daily counts there, make `daily_calls` a view,
    drop the index by agreement."""
    op.add_column("agreement_days", sa.Column("errors", sa.BigInteger(), nullable=True))
    op.add_column("agreement_days", sa.Column("daily", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(MERGE)
    op.drop_table("daily_calls")
    op.execute(VIEW)
    op.drop_index("ix_agreement_days_agreement_day", table_name="agreement_days")


def downgrade() -> None:
    """Make `daily_calls` again from the day rows marked daily, drop the two columns, index by agreement again."""
    op.create_index("ix_agreement_days_agreement_day", "agreement_days", ["agreement_id", "day", "calls"])
    op.execute("DROP VIEW daily_calls")
    op.execute("CREATE TABLE daily_calls (agreement_id INTEGER NOT NULL, day DATE NOT NULL, calls BIGINT NOT NULL, "
               "errors BIGINT, CONSTRAINT pk_daily_calls PRIMARY KEY (day, agreement_id))"
               + (" WITHOUT ROWID" if _sqlite() else ""))
    op.execute("INSERT INTO daily_calls (agreement_id, day, calls, errors) "
               "SELECT agreement_id, day, calls, errors FROM agreement_days WHERE daily ORDER BY day, agreement_id")
    op.drop_column("agreement_days", "daily")
    op.drop_column("agreement_days", "errors")

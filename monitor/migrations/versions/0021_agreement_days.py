"""agreement_days: one row per agreement and Copenhagen day, filled from the count tables

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 13:00:00

A day's calls under an agreement (its daily count when one exists, else the sum of its hours
that day) are kept in a table of their own, which every import keeps up to date in its
transaction (`monitor.daytable`), so readers no longer compute them from a year of hourly rows.
Keyed (day, agreement_id), WITHOUT ROWID on SQLite, as `daily_calls`; no foreign key (the rows
are derived, and `monitor db check` compares them with their source). The upgrade fills it from
the counts that exist, in one statement; the downgrade drops it.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILL = """
INSERT INTO agreement_days (day, agreement_id, calls)
SELECT day, agreement_id, calls FROM daily_calls
UNION ALL
SELECT h.day, h.agreement_id, sum(h.calls) FROM hourly_calls h
WHERE NOT EXISTS (SELECT 1 FROM daily_calls d WHERE d.day = h.day AND d.agreement_id = h.agreement_id)
GROUP BY h.day, h.agreement_id
"""


def upgrade() -> None:
    """Create `agreement_days` and fill it from `daily_calls` and `hourly_calls`."""
    op.execute("CREATE TABLE agreement_days (day DATE NOT NULL, agreement_id INTEGER NOT NULL, "
               "calls BIGINT NOT NULL, CONSTRAINT pk_agreement_days PRIMARY KEY (day, agreement_id))"
               + (" WITHOUT ROWID" if op.get_bind().dialect.name == "sqlite" else ""))
    op.execute(FILL)


def downgrade() -> None:
    """Drop `agreement_days`."""
    op.drop_table('agreement_days')

"""mails carry what their composer needs: `mails.payload`

Revision ID: 0017
Revises: 0011
Create Date: 2026-12-07 06:00:00

The `mails` table is the outbox of every mail that is not a notice update (confirmations,
invitations, sign-in links, and the reminders, digests, cut-over reports, alerts and
method-input confirmations that queue through `queue_mail`). `payload` holds, as JSON, what
the kind's composer needs besides the address (a week, a municipality code, an alert group);
NULL for the kinds that need nothing. Existing rows keep NULL.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable `mails.payload` column."""
    with op.batch_alter_table("mails") as batch:
        batch.add_column(sa.Column("payload", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop `mails.payload`."""
    with op.batch_alter_table("mails") as batch:
        batch.drop_column("payload")

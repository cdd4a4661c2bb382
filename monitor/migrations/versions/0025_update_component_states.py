"""notice_updates.component_states: each component's status as one update gives it (Statuspage)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 19:00:00

Statuspage lists, on each update of an incident or maintenance, the components it changed and
their new status (`affected_components`). Availability counts a component from the update that
makes it unavailable to the one that makes it operational again, instead of over the whole
notice. NULL for a source that gives no component states per update (RSS, Atom) and for every
row that exists now; the next poll of a Statuspage source fills them in.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable `notice_updates.component_states`."""
    with op.batch_alter_table("notice_updates") as batch:
        batch.add_column(sa.Column("component_states", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop `notice_updates.component_states`."""
    with op.batch_alter_table("notice_updates") as batch:
        batch.drop_column("component_states")

"""municipality mailboxes, mails to them, and mail events that happen once

Revision ID: 0018
Revises: 0011
Create Date: 2026-12-07 05:00:00

- `municipality_contacts`: each municipality's infrastructure mailboxes, with a secret per row
  for their one-click links and the kinds of mail each stopped (AUTOINCREMENT on SQLite: a
  link names the row by id and secret).
- `mails.contact_id`: a mail to a mailbox (what it says is in `mails.payload`, added by 0017, rendered
  when it is sent).
- `sent_once`: the unique (kind, key) of an alert group's status, a cut-over report, a week's
  digest or a maintenance reminder, claimed in the transaction that queues its mails.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from monitor.db import UTCDateTime

revision: str = '0018'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "municipality_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("municipality_code", sa.String(length=3), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("link_key", sa.String(length=32), nullable=False),
        sa.Column("stopped", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["municipality_code"], ["municipalities.code"],
                                name=op.f("fk_municipality_contacts_municipality_code_municipalities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_municipality_contacts")),
        sa.UniqueConstraint("municipality_code", "address",
                            name=op.f("uq_municipality_contacts_municipality_code_address")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_municipality_contacts_municipality_code"), "municipality_contacts",
                    ["municipality_code"])
    op.create_table(
        "sent_once",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sent_once")),
        sa.UniqueConstraint("kind", "key", name=op.f("uq_sent_once_kind_key")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("mails") as batch_op:
        batch_op.add_column(sa.Column("contact_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f("fk_mails_contact_id_municipality_contacts"), "municipality_contacts",
                                    ["contact_id"], ["id"], ondelete="CASCADE")


def downgrade() -> None:
    with op.batch_alter_table("mails") as batch_op:
        batch_op.drop_constraint(op.f("fk_mails_contact_id_municipality_contacts"), type_="foreignkey")
        batch_op.drop_column("contact_id")
    op.drop_table("sent_once")
    op.drop_index(op.f("ix_municipality_contacts_municipality_code"), table_name="municipality_contacts")
    op.drop_table("municipality_contacts")

"""leads' input on the method ("dit input?") and operators' corrections of a rating

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-07 05:10:00

- `method_inputs`: an input or objection, its reply address, the secret key its confirmation
  link carries, and the operator's answer (published or not).
- `rating_corrections`: an agreement an operator agreed was wrongly counted as redundant,
  with the reason; the next rating counts it as in use.

Both never reuse an id (AUTOINCREMENT on SQLite).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from monitor.db import UTCDateTime

revision: str = '0015'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "method_inputs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("municipality_code", sa.String(length=3), nullable=True),
        sa.Column("part", sa.String(length=30), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime(), nullable=True),
        sa.Column("mail_id", sa.Integer(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("answered_by", sa.String(length=254), nullable=True),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["municipality_code"], ["municipalities.code"],
                                name=op.f("fk_method_inputs_municipality_code_municipalities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_method_inputs")),
        sa.UniqueConstraint("key", name=op.f("uq_method_inputs_key")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_method_inputs_created", "method_inputs", ["created_at"])
    op.create_index(op.f("ix_method_inputs_municipality_code"), "method_inputs", ["municipality_code"])
    op.create_index(op.f("ix_method_inputs_address"), "method_inputs", ["address"])
    op.create_index(op.f("ix_method_inputs_mail_id"), "method_inputs", ["mail_id"])
    op.create_table(
        "rating_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("municipality_code", sa.String(length=3), nullable=False),
        sa.Column("agreement_uuid", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("input_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["municipality_code"], ["municipalities.code"],
                                name=op.f("fk_rating_corrections_municipality_code_municipalities")),
        sa.ForeignKeyConstraint(["input_id"], ["method_inputs.id"], ondelete="SET NULL",
                                name=op.f("fk_rating_corrections_input_id_method_inputs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating_corrections")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_rating_corrections_municipality_code"), "rating_corrections", ["municipality_code"])


def downgrade() -> None:
    op.drop_table("rating_corrections")
    op.drop_table("method_inputs")

"""the outbox of single mails (confirmations, invitations) and suppressed addresses

Revision ID: 0003
Revises: 0008
Create Date: 2026-11-29 10:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.db

revision: str = '0003'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('mails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('address', sa.String(length=500), nullable=True),
    sa.Column('address_hash', sa.String(length=64), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('campaign', sa.String(length=100), nullable=True),
    sa.Column('components', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', monitor.db.UTCDateTime(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', monitor.db.UTCDateTime(), nullable=False),
    sa.Column('sent_at', monitor.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_mails_subscriber_id_subscribers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mails')),
    sa.UniqueConstraint('campaign', 'address_hash', name=op.f('uq_mails_campaign_address_hash'))
    )
    with op.batch_alter_table('mails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mails_address_hash'), ['address_hash'], unique=False)
        batch_op.create_index('ix_mails_status_next', ['status', 'next_attempt_at'], unique=False)

    op.create_table('suppressed_addresses',
    sa.Column('address_hash', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('created_at', monitor.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('address_hash', name=op.f('pk_suppressed_addresses'))
    )


def downgrade() -> None:
    op.drop_table('suppressed_addresses')
    with op.batch_alter_table('mails', schema=None) as batch_op:
        batch_op.drop_index('ix_mails_status_next')
        batch_op.drop_index(batch_op.f('ix_mails_address_hash'))
    op.drop_table('mails')

"""operators, sign-in links and the audit trail

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.db

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('created_at', monitor.db.UTCDateTime(), nullable=False),
    sa.Column('last_sign_in_at', monitor.db.UTCDateTime(), nullable=True),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('login_links',
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', monitor.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', monitor.db.UTCDateTime(), nullable=False),
    sa.Column('used_at', monitor.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_login_links_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('nonce', name=op.f('pk_login_links'))
    )
    with op.batch_alter_table('login_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_links_user_id'), ['user_id'], unique=False)

    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', monitor.db.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('action', sa.String(length=50), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_at', ['at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_at')
    op.drop_table('audit_events')
    with op.batch_alter_table('login_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_links_user_id'))
    op.drop_table('login_links')
    op.drop_table('users')

"""operator sessions kept on the server; operator ids never reused on SQLite

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 09:00:00

A session is a row (`operator_sessions`) that logout and `monitor users remove` end, keyed by
the SHA-256 of the random token in the cookie. On SQLite `users` is rebuilt with AUTOINCREMENT
so that a removed operator's id is never given to the next one (PostgreSQL's sequence never
reuses one). Rebuilding drops the old table, and with foreign keys on that deletes the rows
of `login_links` that point at it, so they are kept aside and put back.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.db

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild_users_sqlite(autoincrement: bool) -> None:
    op.execute("CREATE TEMPORARY TABLE login_links_kept AS SELECT * FROM login_links")
    with op.batch_alter_table('users', recreate='always',
                              table_kwargs={'sqlite_autoincrement': autoincrement}) as batch_op:
        batch_op.alter_column('id', existing_type=sa.Integer(), nullable=False)
    op.execute("DELETE FROM login_links")
    op.execute("INSERT INTO login_links SELECT * FROM login_links_kept")
    op.execute("DROP TABLE login_links_kept")


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_users_sqlite(autoincrement=True)
    op.create_table('operator_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', monitor.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', monitor.db.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', monitor.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_operator_sessions_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_sessions'))
    )
    with op.batch_alter_table('operator_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_operator_sessions_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('operator_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_operator_sessions_user_id'))
    op.drop_table('operator_sessions')
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_users_sqlite(autoincrement=False)

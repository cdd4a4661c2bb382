"""cut-over console: task deadlines, acknowledgements and calendar sequences

Revision ID: 0004
Revises: 0002
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.db

revision: str = '0004'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('cutover_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deadline', sa.Date(), nullable=True))
    op.create_table('calendar_events',
    sa.Column('uid', sa.String(length=200), nullable=False),
    sa.Column('starts_at', monitor.db.UTCDateTime(), nullable=False),
    sa.Column('ends_at', monitor.db.UTCDateTime(), nullable=True),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('changed_at', monitor.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('uid', name=op.f('pk_calendar_events'))
    )
    op.create_table('cutover_acknowledgements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('municipality_code', sa.String(length=3), nullable=False),
    sa.Column('agreement_uuid', sa.String(length=36), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('operator', sa.String(length=320), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', monitor.db.UTCDateTime(), nullable=False),
    sa.Column('ended_at', monitor.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['municipality_code'], ['municipalities.code'], name=op.f('fk_cutover_acknowledgements_municipality_code_municipalities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cutover_acknowledgements'))
    )
    with op.batch_alter_table('cutover_acknowledgements', schema=None) as batch_op:
        batch_op.create_index('ix_cutover_acknowledgements_municipality', ['municipality_code', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cutover_acknowledgements', schema=None) as batch_op:
        batch_op.drop_index('ix_cutover_acknowledgements_municipality')
    op.drop_table('cutover_acknowledgements')
    op.drop_table('calendar_events')
    with op.batch_alter_table('cutover_tasks', schema=None) as batch_op:
        batch_op.drop_column('deadline')

"""suppliers' bearer tokens for the HTTP import; the ledger names the supplier of a posted file

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-07 07:00:00

- `import_tokens`: one row per supplier (`monitor tokens add NAME`), keyed by the SHA-256 of the
  token, never the token itself. AUTOINCREMENT on SQLite, so a removed token's id is never
  given to the next one (PostgreSQL's sequence never reuses one).
- `imported_files.supplier`: the token's name for a file posted to `POST /api/v1/imports/calls`;
  NULL for files from the inbox or the command line, and for every row that exists now.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.db

revision: str = '0020'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create `import_tokens` and add the nullable `imported_files.supplier`."""
    op.create_table(
        'import_tokens',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('token_sha256', sa.String(length=64), nullable=False),
        sa.Column('created_at', monitor.db.UTCDateTime(), nullable=False),
        sa.Column('last_used_at', monitor.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_import_tokens')),
        sa.UniqueConstraint('name', name=op.f('uq_import_tokens_name')),
        sa.UniqueConstraint('token_sha256', name=op.f('uq_import_tokens_token_sha256')),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table('imported_files') as batch:
        batch.add_column(sa.Column('supplier', sa.String(length=100), nullable=True))


def downgrade() -> None:
    """Drop `imported_files.supplier` and `import_tokens`."""
    with op.batch_alter_table('imported_files') as batch:
        batch.drop_column('supplier')
    op.drop_table('import_tokens')

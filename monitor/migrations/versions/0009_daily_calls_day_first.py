"""daily_calls keyed (day, agreement_id), without the separate day index; WITHOUT ROWID on SQLite

Revision ID: 0009
Revises: 0003
Create Date: 2026-11-29 14:40:00

The key that starts with the day serves every read by day (the rating's span, the probes for
missing days, the newest day), so the day index goes. On SQLite the table is rebuilt WITHOUT
ROWID: the rows are stored in the key's B-tree, one B-tree instead of three (rowid table,
key, day index). See docs/performance.md, "The layout of the daily counts".
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0009'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("agreement_id INTEGER NOT NULL, day DATE NOT NULL, calls BIGINT NOT NULL, errors BIGINT, "
           "CONSTRAINT fk_daily_calls_agreement_id_agreements FOREIGN KEY(agreement_id) "
           "REFERENCES agreements (id) ON DELETE CASCADE")


def _rebuild_sqlite(key: str, without_rowid: bool, index: bool) -> None:
    op.execute(f"CREATE TABLE daily_calls_rebuilt ({COLUMNS}, CONSTRAINT pk_daily_calls PRIMARY KEY ({key}))"
               + (" WITHOUT ROWID" if without_rowid else ""))
    op.execute("INSERT INTO daily_calls_rebuilt (agreement_id, day, calls, errors) "
               f"SELECT agreement_id, day, calls, errors FROM daily_calls ORDER BY {key}")
    op.execute("DROP TABLE daily_calls")  # its indexes go with it
    op.execute("ALTER TABLE daily_calls_rebuilt RENAME TO daily_calls")
    if index:
        op.execute("CREATE INDEX ix_daily_calls_day ON daily_calls (day)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite("day, agreement_id", without_rowid=True, index=False)
        return
    op.drop_index("ix_daily_calls_day", table_name="daily_calls")
    op.drop_constraint("pk_daily_calls", "daily_calls", type_="primary")
    op.create_primary_key("pk_daily_calls", "daily_calls", ["day", "agreement_id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite("agreement_id, day", without_rowid=False, index=True)
        return
    op.drop_constraint("pk_daily_calls", "daily_calls", type_="primary")
    op.create_primary_key("pk_daily_calls", "daily_calls", ["agreement_id", "day"])
    op.create_index("ix_daily_calls_day", "daily_calls", ["day"])

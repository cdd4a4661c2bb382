"""Count tables without foreign keys, agreements never deleted; hourly_calls partitioned by month on PostgreSQL

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 16:00:00

`daily_calls` and `hourly_calls` lose their foreign key to `agreements` (`agreement_days` never
had one). A foreign key is checked per written row, and the bulk path that dropped it for a
large import locked both tables exclusively until the commit. Their integrity now rests on
agreements never being deleted: a trigger refuses a DELETE (and on PostgreSQL a TRUNCATE) of
`agreements` unless the deleting transaction holds the row `agreements.deletable` in `meta`,
which only the demo's reload writes and removes again before it commits. The import checks its
agreement ids in one query, and `monitor db check` counts rows whose agreement does not exist.

On PostgreSQL `hourly_calls` becomes a table partitioned by month on `hour` (the key already
starts with the agreement and holds the hour), one partition per month that has rows, named
`hourly_calls_YYYY_MM`, and no DEFAULT partition. The rows are moved in this transaction. SQLite
keeps a plain table; both tables are rebuilt there without the foreign key, as SQLite cannot
drop one in place.

The downgrade puts the plain table and the foreign keys back (it fails if a count's agreement
is missing) and drops the triggers.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FLAG = "agreements.deletable"
REFUSAL = "agreements are never deleted: the call counts refer to them without a foreign key"

FK_DAILY = ("CONSTRAINT fk_daily_calls_agreement_id_agreements FOREIGN KEY(agreement_id) "
            "REFERENCES agreements (id) ON DELETE CASCADE")
FK_HOURLY = ("CONSTRAINT fk_hourly_calls_agreement_id_agreements FOREIGN KEY(agreement_id) "
             "REFERENCES agreements (id) ON DELETE CASCADE")
DAILY_COLUMNS = "agreement_id INTEGER NOT NULL, day DATE NOT NULL, calls BIGINT NOT NULL, errors BIGINT"
HOURLY_COLUMNS = ("agreement_id INTEGER NOT NULL, hour {hour} NOT NULL, day DATE NOT NULL, calls BIGINT NOT NULL, "
                  "errors BIGINT")

PG_FUNCTION = f"""
CREATE FUNCTION refuse_agreement_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM meta WHERE key = '{FLAG}') THEN
        RAISE EXCEPTION '{REFUSAL}' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN OLD;
END
$$
"""


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _rebuild_sqlite(foreign_keys: bool) -> None:
    daily = DAILY_COLUMNS + (f", {FK_DAILY}" if foreign_keys else "")
    op.execute(f"CREATE TABLE daily_calls_rebuilt ({daily}, CONSTRAINT pk_daily_calls PRIMARY KEY (day, agreement_id))"
               " WITHOUT ROWID")
    op.execute("INSERT INTO daily_calls_rebuilt (agreement_id, day, calls, errors) "
               "SELECT agreement_id, day, calls, errors FROM daily_calls ORDER BY day, agreement_id")
    op.execute("DROP TABLE daily_calls")
    op.execute("ALTER TABLE daily_calls_rebuilt RENAME TO daily_calls")
    hourly = HOURLY_COLUMNS.format(hour="DATETIME") + (f", {FK_HOURLY}" if foreign_keys else "")
    op.execute(f"CREATE TABLE hourly_calls_rebuilt ({hourly}, "
               "CONSTRAINT pk_hourly_calls PRIMARY KEY (agreement_id, hour))")
    op.execute("INSERT INTO hourly_calls_rebuilt (agreement_id, hour, day, calls, errors) "
               "SELECT agreement_id, hour, day, calls, errors FROM hourly_calls ORDER BY agreement_id, hour")
    op.execute("DROP TABLE hourly_calls")  # its indexes go with it
    op.execute("ALTER TABLE hourly_calls_rebuilt RENAME TO hourly_calls")
    op.execute("CREATE INDEX ix_hourly_calls_day ON hourly_calls (day)")
    op.execute("CREATE INDEX ix_hourly_calls_hour ON hourly_calls (hour)")


def _partition_hourly() -> None:
    op.execute("ALTER TABLE hourly_calls DROP CONSTRAINT fk_hourly_calls_agreement_id_agreements")
    op.execute("ALTER TABLE hourly_calls DROP CONSTRAINT pk_hourly_calls")
    op.execute("DROP INDEX ix_hourly_calls_day")
    op.execute("DROP INDEX ix_hourly_calls_hour")
    op.execute("ALTER TABLE hourly_calls RENAME TO hourly_calls_unpartitioned")
    op.execute(f"CREATE TABLE hourly_calls ({HOURLY_COLUMNS.format(hour='TIMESTAMP WITHOUT TIME ZONE')}, "
               "CONSTRAINT pk_hourly_calls PRIMARY KEY (agreement_id, hour)) PARTITION BY RANGE (hour)")
    op.execute("CREATE INDEX ix_hourly_calls_day ON hourly_calls (day)")
    op.execute("CREATE INDEX ix_hourly_calls_hour ON hourly_calls (hour)")
    months = op.get_bind().exec_driver_sql(
        "SELECT DISTINCT date_trunc('month', hour) FROM hourly_calls_unpartitioned ORDER BY 1").scalars().all()
    for start in months:
        end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        op.execute(f"CREATE TABLE hourly_calls_{start:%Y_%m} PARTITION OF hourly_calls "
                   f"FOR VALUES FROM ('{start:%Y-%m-%d %H:%M:%S}') TO ('{end:%Y-%m-%d %H:%M:%S}')")
    op.execute("INSERT INTO hourly_calls (agreement_id, hour, day, calls, errors) "
               "SELECT agreement_id, hour, day, calls, errors FROM hourly_calls_unpartitioned")
    op.execute("DROP TABLE hourly_calls_unpartitioned")


def _unpartition_hourly() -> None:
    op.execute(f"CREATE TABLE hourly_calls_plain ({HOURLY_COLUMNS.format(hour='TIMESTAMP WITHOUT TIME ZONE')})")
    op.execute("INSERT INTO hourly_calls_plain (agreement_id, hour, day, calls, errors) "
               "SELECT agreement_id, hour, day, calls, errors FROM hourly_calls")
    op.execute("DROP TABLE hourly_calls")  # with its partitions and their indexes
    op.execute("ALTER TABLE hourly_calls_plain RENAME TO hourly_calls")
    op.execute("ALTER TABLE hourly_calls ADD CONSTRAINT pk_hourly_calls PRIMARY KEY (agreement_id, hour)")
    op.execute(f"ALTER TABLE hourly_calls ADD {FK_HOURLY}")
    op.execute("CREATE INDEX ix_hourly_calls_day ON hourly_calls (day)")
    op.execute("CREATE INDEX ix_hourly_calls_hour ON hourly_calls (hour)")


def upgrade() -> None:
    """Drop the count tables' foreign keys, refuse deleting agreements, partition hourly_calls (PostgreSQL)."""
    if _sqlite():
        _rebuild_sqlite(foreign_keys=False)
        op.execute(f"CREATE TRIGGER agreements_never_deleted BEFORE DELETE ON agreements "
                   f"WHEN NOT EXISTS (SELECT 1 FROM meta WHERE key = '{FLAG}') "
                   f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END")
        return
    op.execute("ALTER TABLE daily_calls DROP CONSTRAINT fk_daily_calls_agreement_id_agreements")
    _partition_hourly()
    op.execute(PG_FUNCTION)
    op.execute("CREATE TRIGGER agreements_never_deleted BEFORE DELETE ON agreements "
               "FOR EACH ROW EXECUTE FUNCTION refuse_agreement_delete()")
    op.execute("CREATE TRIGGER agreements_never_truncated BEFORE TRUNCATE ON agreements "
               "FOR EACH STATEMENT EXECUTE FUNCTION refuse_agreement_delete()")


def downgrade() -> None:
    """The foreign keys and the plain hourly table back; agreements may be deleted again."""
    op.execute("DROP TRIGGER agreements_never_deleted" + ("" if _sqlite() else " ON agreements"))
    if _sqlite():
        _rebuild_sqlite(foreign_keys=True)
        return
    op.execute("DROP TRIGGER agreements_never_truncated ON agreements")
    op.execute("DROP FUNCTION refuse_agreement_delete()")
    _unpartition_hourly()
    op.execute(f"ALTER TABLE daily_calls ADD {FK_DAILY}")

"""agreement_weeks: each agreement's calls per week, the sums of its day rows, and the stale weeks

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-08 01:00:00

The rating reads whole weeks of its 90-day span from `agreement_weeks` (one row per agreement
and week, numbered from Monday 1 January 1900) and only the edge days from `agreement_days`
(`monitor.weektable`). A trigger on `agreement_days` marks the weeks of every row written,
changed or deleted in `agreement_weeks_stale`, in the writer's transaction; a stale week is
read from its day rows until `weektable.refresh` recomputes it. On PostgreSQL the triggers run
once per statement over its transition table; SQLite's run per row.

The table is filled here from the day rows, with no week stale.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0026'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_WEEK = "((day) - DATE '1900-01-01') / 7"
SQLITE_WEEK = "CAST((julianday({day}) - 2415020.5) / 7 AS INTEGER)"

# The weeks of the rows a statement wrote: locked (DO UPDATE), so a refresh that took the mark
# first is waited for, and one that comes later skips it until this transaction ends.
PG_FUNCTION = f"""
CREATE FUNCTION mark_stale_weeks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO agreement_weeks_stale (week)
        SELECT {PG_WEEK} FROM written UNION SELECT {PG_WEEK} FROM replaced
        ON CONFLICT (week) DO UPDATE SET week = excluded.week;
    ELSE
        INSERT INTO agreement_weeks_stale (week) SELECT DISTINCT {PG_WEEK} FROM written
        ON CONFLICT (week) DO UPDATE SET week = excluded.week;
    END IF;
    RETURN NULL;
END
$$
"""
PG_TRIGGERS = (
    "CREATE TRIGGER agreement_days_inserted AFTER INSERT ON agreement_days REFERENCING NEW TABLE AS written "
    "FOR EACH STATEMENT EXECUTE FUNCTION mark_stale_weeks()",
    "CREATE TRIGGER agreement_days_updated AFTER UPDATE ON agreement_days "
    "REFERENCING NEW TABLE AS written OLD TABLE AS replaced FOR EACH STATEMENT EXECUTE FUNCTION mark_stale_weeks()",
    "CREATE TRIGGER agreement_days_deleted AFTER DELETE ON agreement_days REFERENCING OLD TABLE AS written "
    "FOR EACH STATEMENT EXECUTE FUNCTION mark_stale_weeks()",
    # A TRUNCATE has no rows to name: every week goes with them.
    "CREATE FUNCTION clear_weeks() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN DELETE FROM agreement_weeks; DELETE FROM agreement_weeks_stale; RETURN NULL; END $$",
    "CREATE TRIGGER agreement_days_truncated AFTER TRUNCATE ON agreement_days "
    "FOR EACH STATEMENT EXECUTE FUNCTION clear_weeks()",
)


def _sqlite_trigger(name: str, event: str, row: str) -> str:
    # Per row, but only the first row of a week not yet stale runs the body: the WHEN is a probe
    # of a small table's key. (No INSERT OR IGNORE: a conflict clause of the statement that fired
    # the trigger would override it.)
    week = SQLITE_WEEK.format(day=f"{row}.day")
    return (f"CREATE TRIGGER {name} AFTER {event} ON agreement_days "
            f"WHEN NOT EXISTS (SELECT 1 FROM agreement_weeks_stale WHERE week = {week}) "
            f"BEGIN INSERT INTO agreement_weeks_stale (week) VALUES ({week}); END")


SQLITE_TRIGGERS = (
    _sqlite_trigger("agreement_days_inserted", "INSERT", "NEW"),
    _sqlite_trigger("agreement_days_updated", "UPDATE", "NEW"),
    _sqlite_trigger("agreement_days_updated_from", "UPDATE OF day", "OLD"),  # a day moved: its old week too
    _sqlite_trigger("agreement_days_deleted", "DELETE", "OLD"),
)


def upgrade() -> None:
    """Create `agreement_weeks` and `agreement_weeks_stale`, fill the weeks, add the triggers."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    without_rowid = " WITHOUT ROWID" if sqlite else ""
    op.execute("CREATE TABLE agreement_weeks (week INTEGER NOT NULL, agreement_id INTEGER NOT NULL, "
               "calls BIGINT NOT NULL, CONSTRAINT pk_agreement_weeks PRIMARY KEY (week, agreement_id))"
               + without_rowid)
    op.execute("CREATE TABLE agreement_weeks_stale (week INTEGER NOT NULL, "
               "CONSTRAINT pk_agreement_weeks_stale PRIMARY KEY (week))" + without_rowid)
    week = SQLITE_WEEK.format(day="day") if sqlite else PG_WEEK
    op.execute(f"INSERT INTO agreement_weeks (week, agreement_id, calls) SELECT {week}, agreement_id, sum(calls) "
               f"FROM agreement_days WHERE day >= '1900-01-01' GROUP BY {week}, agreement_id")
    if sqlite:
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
        return
    op.execute(PG_FUNCTION)
    for statement in PG_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    """Drop the triggers and both tables."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    for trigger in ("agreement_days_inserted", "agreement_days_updated", "agreement_days_deleted"):
        op.execute(f"DROP TRIGGER {trigger}" + ("" if sqlite else " ON agreement_days"))
    if sqlite:
        op.execute("DROP TRIGGER agreement_days_updated_from")
    if not sqlite:
        op.execute("DROP TRIGGER agreement_days_truncated ON agreement_days")
        op.execute("DROP FUNCTION clear_weeks()")
        op.execute("DROP FUNCTION mark_stale_weeks()")
    op.drop_table("agreement_weeks_stale")
    op.drop_table("agreement_weeks")

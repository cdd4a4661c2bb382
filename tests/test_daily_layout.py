"""The daily counts' layout: keyed (day, agreement_id), WITHOUT ROWID on SQLite, since migration
0024 as the day rows of `agreement_days` (`daily_calls` is a view of them); the migrations to it
and back keep every row (docs/performance.md)."""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session

from monitor.collectors.calls.loaders import store_counts
from monitor.migrate import alembic_config
from tests.cutover_helpers import add_agreement

ROWS = [(day, agreement, calls) for day in (dt.date(2026, 11, 27), dt.date(2026, 11, 28))
        for agreement, calls in ((0, 5), (1, 7))]


def stored(engine: Engine) -> list[tuple[str, int, int, int | None]]:
    with engine.connect() as conn:
        return [(str(d)[:10], a, c, e) for a, d, c, e in
                conn.execute(text("SELECT agreement_id, day, calls, errors FROM daily_calls "
                                  "ORDER BY agreement_id, day"))]


def layout(engine: Engine, table: str = "agreement_days") -> tuple[list[str], list[str], bool | None]:
    """The key's columns, the table's index names, and (SQLite) whether it has a rowid."""
    found = inspect(engine)
    key = found.get_pk_constraint(table)["constrained_columns"]
    indexes = [i["name"] for i in found.get_indexes(table)]
    without_rowid = None
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            sql = conn.scalar(text(f"SELECT sql FROM sqlite_master WHERE name = '{table}'"))
        without_rowid = "WITHOUT ROWID" in sql
    return key, indexes, without_rowid


def fill(engine: Engine) -> list[int]:
    with Session(engine) as session, session.begin():
        ids = [add_agreement(session, f"layout-{i}", "101").id for i in range(2)]
        store_counts(session, [(ids[a], d, c, None) for d, a, c in ROWS], [])
    return ids


def test_the_daily_counts_are_keyed_day_first_without_a_second_index(engine):
    key, indexes, without_rowid = layout(engine)
    assert key == ["day", "agreement_id"]
    assert indexes == []
    assert without_rowid in (None, True)  # True on SQLite; PostgreSQL has no rowid


def test_an_upsert_against_the_day_first_key_replaces_the_count_and_adds_no_row(engine):
    ids = fill(engine)
    with Session(engine) as session, session.begin():
        store_counts(session, [(ids[1], dt.date(2026, 11, 28), 70, 2)], [])
    rows = stored(engine)
    assert len(rows) == 4
    assert (("2026-11-28", ids[1], 70, 2)) in rows


def test_the_migration_to_the_day_first_layout_and_back_keeps_every_row(engine):
    fill(engine)
    before = stored(engine)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0003")
    assert stored(engine) == before
    key, indexes, without_rowid = layout(engine, "daily_calls")
    assert key == ["agreement_id", "day"] and indexes == ["ix_daily_calls_day"] and without_rowid in (None, False)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert stored(engine) == before
    assert layout(engine)[0] == ["day", "agreement_id"]

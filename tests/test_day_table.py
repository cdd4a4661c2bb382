"""One row per agreement and day: `agreement_days` holds a day's daily count where one exists, else
the sum of its hours, after every writer of counts, and the migrations fill it from the counts."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, column, delete, inspect, select, table, text
from sqlalchemy.orm import Session

from monitor import daytable
from monitor.collectors.calls import loaders
from monitor.collectors.calls.hourly_retention import roll_up_day
from monitor.localtime import CPH
from monitor.migrate import alembic_config
from monitor.models import AgreementDay, HeldCallCount, HourlyCallCount
from tests.cutover_helpers import add_agreement
from tests.import_helpers import A1, A2, AGREEMENTS, load

# Around the end of summer time: 25 October 2026 has 25 hours in Copenhagen.
FIRST_HOUR = dt.datetime(2026, 10, 23, 21, tzinfo=dt.UTC)  # 23:00 on the 23rd, Copenhagen
HOURS = [FIRST_HOUR + dt.timedelta(hours=n) for n in range(80)]
DAYS = sorted({h.astimezone(CPH).date() for h in HOURS})


def stored_days(engine: Engine) -> dict[tuple[int, dt.date], int]:
    with Session(engine) as session:
        return {(a, d): c for d, a, c in session.execute(select(AgreementDay.day, AgreementDay.agreement_id,
                                                                AgreementDay.calls))}


def stored_daily(engine: Engine) -> dict[tuple[int, dt.date], int]:
    """The day rows that are daily counts."""
    with Session(engine) as session:
        return {(a, d): c for d, a, c in session.execute(select(AgreementDay.day, AgreementDay.agreement_id,
                                                                AgreementDay.calls).where(AgreementDay.daily))}


def defined_days(daily: dict[tuple[int, dt.date], int], hourly: dict[tuple[int, dt.datetime], int]
                 ) -> dict[tuple[int, dt.date], int]:
    """The definition, in Python: the daily count where one exists, else the sum of the day's hours."""
    days: dict[tuple[int, dt.date], int] = defaultdict(int)
    for (a, hour), calls in hourly.items():
        days[a, hour.astimezone(CPH).date()] += calls
    days.update(daily)
    return dict(days)


def agreements(engine: Engine, n: int) -> list[int]:
    with Session(engine) as session, session.begin():
        return [add_agreement(session, f"day-table-{i}", "101").id for i in range(n)]


# A step is a file of daily and hourly counts (agreement index → bucket → calls), or a roll-up of one
# day's hours into daily counts (the hourly retention).
counts = st.integers(0, 1_000)
daily_file = st.dictionaries(st.tuples(st.integers(0, 2), st.sampled_from(DAYS)), counts, max_size=8)
hourly_file = st.dictionaries(st.tuples(st.integers(0, 2), st.sampled_from(HOURS)), counts, max_size=30)
step = st.one_of(st.tuples(st.just("file"), daily_file, hourly_file),
                 st.tuples(st.just("roll_up"), st.sampled_from(DAYS), st.just({})))


@pytest.fixture
def three(engine):  # type: ignore[no-untyped-def]
    """Three agreements, made once for all of a property test's examples."""
    return agreements(engine, 3)


@given(steps=st.lists(step, min_size=1, max_size=6))
@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_the_day_table_is_the_daily_count_else_the_sum_of_the_hours_after_any_imports(engine, three, monkeypatch,
                                                                                       steps):
    with Session(engine) as session, session.begin():
        for model in (AgreementDay, HourlyCallCount):
            session.execute(delete(model))
    daily: dict[tuple[int, dt.date], int] = {}
    hourly: dict[tuple[int, dt.datetime], int] = {}
    for kind, first, second in steps:
        with Session(engine) as session, session.begin():
            if kind == "roll_up":
                roll_up_day(session, first)
            else:
                loaders.store_counts(session, [(three[i], d, c, None) for (i, d), c in first.items()],
                                     [(three[i], h, h.astimezone(CPH).date(), c, None) for (i, h), c in second.items()])
        if kind == "roll_up":  # the day's hours become a daily count of their sum where none exists
            sums: dict[int, int] = defaultdict(int)
            for (a, hour), calls in list(hourly.items()):
                if hour.astimezone(CPH).date() == first:
                    sums[a] += calls
                    del hourly[a, hour]
            for a, total in sums.items():
                daily.setdefault((a, first), total)
            continue
        daily.update({(three[i], d): c for (i, d), c in first.items()})
        hourly.update({(three[i], h): c for (i, h), c in second.items()})
    assert stored_days(engine) == defined_days(daily, hourly)
    assert stored_daily(engine) == daily  # a daily count is kept as written, marked daily
    with Session(engine) as session:
        assert daytable.mismatches(session) == 0


def test_an_imported_file_writes_its_days_in_the_same_transaction(engine, now):
    load(engine, "agreements", AGREEMENTS, now)
    hours = "\n".join(f"2020-11-20T{h:02d}:00:00+01:00,{A1},{h},0" for h in range(3))
    assert load(engine, "calls", f"period_start,agreement_uuid,calls,errors\n{hours}\n", now, name="h.csv").ok
    assert sorted(stored_days(engine).values()) == [0 + 1 + 2]
    daily = f"period_start,agreement_uuid,calls,errors\n2020-11-20,{A1},40,0\n2020-11-21,{A2},7,0\n"
    assert load(engine, "calls", daily, now, name="d.csv").ok
    assert sorted(stored_days(engine).values()) == [7, 40]  # the daily count shadows the hours


def test_held_counts_get_their_day_rows_when_their_agreement_arrives(engine, now):
    held = f"period_start,agreement_uuid,calls,errors\n2020-11-20T10:00:00+01:00,{A1},12,0\n"
    assert load(engine, "calls", held, now, name="early.csv").ok
    assert stored_days(engine) == {}
    load(engine, "agreements", AGREEMENTS, now)
    with Session(engine) as session:
        assert session.scalar(select(HeldCallCount.id)) is None
    assert list(stored_days(engine).values()) == [12]


def test_refreshing_a_span_of_days_drops_the_rows_whose_hours_are_gone_and_keeps_daily_counts(engine):
    a, b = agreements(engine, 2)
    day = dt.date(2026, 10, 25)
    first, _ = daytable.day_span(day)
    with Session(engine) as session, session.begin():
        loaders.store_counts(session, [(b, day, 6, 1)], [(a, first, day, 5, None), (b, first, day, 9, None)])
        assert stored_days(engine) == {}  # not committed yet: another session sees nothing
        session.execute(delete(HourlyCallCount).where(HourlyCallCount.day == day))
        daytable.refresh_days(session, day, day)
    assert stored_days(engine) == {(b, day): 6} and stored_daily(engine) == {(b, day): 6}


def test_the_copenhagen_day_of_the_change_to_winter_time_has_25_hours():
    start, end = daytable.day_span(dt.date(2026, 10, 25))
    assert (end - start) == dt.timedelta(hours=25)
    assert start == dt.datetime(2026, 10, 24, 22, tzinfo=dt.UTC)


# The table of daily counts before migration 0024 merged it into `agreement_days`.
DAILY_CALLS = table("daily_calls", column("agreement_id"), column("day"), column("calls"), column("errors"))


@pytest.fixture
def before_the_table(engine):  # type: ignore[no-untyped-def]
    """Counts of three kinds (daily only, hours only, both) under the schema before `agreement_days`."""
    a, b = agreements(engine, 2)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0020")
    day = dt.date(2026, 10, 25)
    with engine.begin() as conn:
        conn.execute(DAILY_CALLS.insert(), [
            {"agreement_id": a, "day": day, "calls": 100}, {"agreement_id": b, "day": day - dt.timedelta(days=1),
                                                            "calls": 9}])
        first, end = daytable.day_span(day)
        conn.execute(HourlyCallCount.__table__.insert(), [
            {"agreement_id": aid, "hour": hour, "day": day, "calls": 1}
            for aid in (a, b) for hour in (first, end - dt.timedelta(hours=1))])
    return a, b, day


def test_the_migration_fills_the_day_table_from_the_counts_there_are(engine, before_the_table):
    a, b, day = before_the_table
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert stored_days(engine) == {(a, day): 100, (b, day - dt.timedelta(days=1)): 9, (b, day): 2}
    if engine.dialect.name == "sqlite":  # the rows live in the key's B-tree, as daily_calls'
        with engine.connect() as conn:
            assert "WITHOUT ROWID" in conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'agreement_days'"))


def test_the_index_by_agreement_lives_only_between_migrations_0023_and_0024(engine):
    def indexes() -> set[str]:
        with engine.connect() as conn:
            return {i["name"] for i in inspect(conn).get_indexes("agreement_days")}

    assert "ix_agreement_days_agreement_day" not in indexes()
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0023")
    assert "ix_agreement_days_agreement_day" in indexes()
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0022")
    assert "ix_agreement_days_agreement_day" not in indexes()
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert "ix_agreement_days_agreement_day" not in indexes()


def test_the_daily_counts_move_into_their_day_rows_and_back(engine):
    """Migration 0024: each daily count becomes its day row, marked daily with its errors; a day of
    hours only stays their sum; `daily_calls` is then a view of the daily rows; the downgrade makes
    the table again with the same rows."""
    a, b = agreements(engine, 2)
    day = dt.date(2026, 10, 25)
    first, _ = daytable.day_span(day)
    with Session(engine) as session, session.begin():
        loaders.store_counts(session, [(a, day, 100, 3), (b, day - dt.timedelta(days=1), 9, None)],
                             [(a, first, day, 1, 0), (b, first, day, 2, 0)])
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0023")
    with engine.connect() as conn:
        before = sorted(conn.execute(text("SELECT agreement_id, day, calls, errors FROM daily_calls")).all())
        assert [(r[0], r[2], r[3]) for r in before] == sorted([(a, 100, 3), (b, 9, None)])
        assert sorted(conn.execute(text("SELECT agreement_id, calls FROM agreement_days")).all()) == sorted(
            [(a, 100), (b, 9), (b, 2)])
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert stored_daily(engine) == {(a, day): 100, (b, day - dt.timedelta(days=1)): 9}
    assert stored_days(engine) == {(a, day): 100, (b, day - dt.timedelta(days=1)): 9, (b, day): 2}
    with engine.connect() as conn:
        assert sorted(conn.execute(text("SELECT agreement_id, day, calls, errors FROM daily_calls")).all()) == before
        kinds = {name: kind for name, kind in conn.execute(text(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_name = 'daily_calls'"
            if engine.dialect.name == "postgresql" else
            "SELECT name, upper(type) FROM sqlite_master WHERE name = 'daily_calls'"))}
        assert kinds == {"daily_calls": "VIEW"}
        assert daytable.mismatches(Session(bind=conn)) == 0

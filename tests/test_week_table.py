"""`agreement_weeks`: the rating reads whole weeks of its span from it, and what it reads is
always the sum of the day rows, whatever was written, deleted or recomputed before."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select, text
from sqlalchemy.orm import Session

from monitor import weektable
from monitor.collectors.calls import loaders
from monitor.migrate import alembic_config
from monitor.models import AgreementDay, AgreementWeek, StaleWeek
from monitor.rating import queries
from monitor.rating.method import Parameters
from tests.import_helpers import A1, A2, AGREEMENTS, load
from tests.test_day_table import agreements, stored_days

FIRST = dt.date(2026, 9, 1)
DAYS = [FIRST + dt.timedelta(days=i) for i in range(70)]


def days_of(plan: weektable.Plan) -> list[dt.date]:
    """Every day a plan reads, its weeks' days and its single days."""
    weekly = [weektable.week_start(w) + dt.timedelta(days=i) for w in plan.weeks for i in range(7)]
    return weekly + plan.days


@given(start=st.dates(dt.date(1899, 12, 1), dt.date(2100, 1, 1)), length=st.integers(0, 120),
       window_at=st.floats(0, 1), recent_at=st.floats(0, 1), stale=st.sets(st.integers(0, 12_000), max_size=40),
       stale_near=st.lists(st.integers(0, 20), max_size=5))
def test_a_plan_reads_every_day_of_the_span_once_and_no_week_across_a_boundary(start, length, window_at,
                                                                                 recent_at, stale, stale_near):
    end = start + dt.timedelta(days=length)
    window_start = start + dt.timedelta(days=round(length * window_at))
    recent_start = start + dt.timedelta(days=round(length * recent_at))
    stale |= {weektable.week_of(start) + n for n in stale_near}
    plan = weektable.plan(stale, start, window_start, recent_start, end)
    read = days_of(plan)
    assert sorted(read) == [start + dt.timedelta(days=i) for i in range(length + 1)]  # each day once
    for week in plan.weeks:
        monday = weektable.week_start(week)
        assert week not in stale and monday >= weektable.EPOCH and weektable.week_of(monday) == week
        assert not monday < window_start <= monday + dt.timedelta(days=6)
        assert not monday < recent_start <= monday + dt.timedelta(days=6)
        assert (week >= plan.window_week) == (monday >= window_start)
        assert (week >= plan.recent_week) == (monday >= recent_start)


def test_a_week_is_seven_days_from_a_monday():
    assert weektable.EPOCH.weekday() == 0
    monday = dt.date(2020, 11, 23)
    assert {weektable.week_of(monday + dt.timedelta(days=i)) for i in range(7)} == {weektable.week_of(monday)}
    assert weektable.week_of(monday - dt.timedelta(days=1)) == weektable.week_of(monday) - 1
    assert weektable.week_start(weektable.week_of(monday)) == monday


def defined_sums(days: dict[tuple[int, dt.date], int], as_of: dt.date, params: Parameters
                 ) -> dict[int, queries.CallSums]:
    """`queries.call_sums` by its definition, in Python, from the day rows."""
    window_start, recent_start = (as_of - dt.timedelta(days=n) for n in (params.window_days,
                                                                          params.redundant_after_days))
    sums: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for (agreement, day), calls in days.items():
        if min(window_start, recent_start) <= day < as_of:
            sums[agreement][0] += calls if day >= window_start else 0
            sums[agreement][1] += calls if day >= recent_start else 0
    return {a: queries.CallSums(*s) for a, s in sums.items()}


@pytest.fixture
def three(engine):  # type: ignore[no-untyped-def]
    """Three agreements, made once for all of a property test's examples."""
    return agreements(engine, 3)


counts = st.integers(0, 1_000)
written = st.dictionaries(st.tuples(st.integers(0, 2), st.sampled_from(DAYS)), counts, max_size=25)
step = st.one_of(st.tuples(st.just("write"), written), st.tuples(st.just("delete"), st.sampled_from(DAYS)),
                 st.tuples(st.just("refresh"), st.just({})))


@given(steps=st.lists(step, min_size=1, max_size=6), as_of=st.sampled_from(DAYS),
       window_days=st.integers(1, 40), redundant_after_days=st.integers(1, 60))
@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_the_sums_read_through_the_weeks_are_the_day_rows_sums_after_any_writes(engine, three, steps, as_of,
                                                                               window_days, redundant_after_days):
    with Session(engine) as session, session.begin():
        session.execute(delete(AgreementDay))
        weektable.refresh(session)
    for kind, what in steps:
        with Session(engine) as session, session.begin():
            if kind == "write":  # daily counts, through the import's own writer
                loaders.store_counts(session, [(three[i], d, c, None) for (i, d), c in what.items()], [])
            elif kind == "delete":
                session.execute(delete(AgreementDay).where(AgreementDay.day == what))
            else:
                weektable.refresh(session)
    params = Parameters(window_days=window_days, redundant_after_days=redundant_after_days)
    defined = defined_sums(stored_days(engine), as_of, params)
    with Session(engine) as session:
        assert queries.call_sums(session, as_of, params) == defined
        assert queries.call_sums(session, as_of, params, "101") == defined  # one municipality's, as its page reads
        assert queries.call_sums(session, as_of, params, "147") == {}
        weektable.refresh(session)
        session.commit()
        assert weektable.mismatches(session) == 0
        assert not session.scalars(select(StaleWeek.week)).all()


def test_the_migration_fills_the_weeks_from_the_day_rows_and_marks_none_stale(engine):
    a, b = agreements(engine, 2)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0025")
    monday = dt.date(2020, 11, 23)
    with engine.begin() as conn:
        conn.execute(AgreementDay.__table__.insert(), [
            {"agreement_id": a, "day": monday, "calls": 5}, {"agreement_id": a, "day": monday + dt.timedelta(days=6),
                                                             "calls": 7},
            {"agreement_id": b, "day": monday + dt.timedelta(days=7), "calls": 11}])
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    week = weektable.week_of(monday)
    with Session(engine) as session:
        assert set(session.execute(select(AgreementWeek.week, AgreementWeek.agreement_id, AgreementWeek.calls))) == {
            (week, a, 12), (week + 1, b, 11)}
        assert not session.scalars(select(StaleWeek.week)).all()
        session.execute(AgreementDay.__table__.insert(), [{"agreement_id": b, "day": monday, "calls": 1}])
        assert session.scalars(select(StaleWeek.week)).all() == [week]  # the trigger, in the writer's transaction
        session.rollback()
        assert not session.scalars(select(StaleWeek.week)).all()


# PostgreSQL only: SQLite has one writer at a time, so a refresh cannot run beside an import.
@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
@pytest.mark.parametrize("marked_before", [True, False], ids=["stale-before", "fresh-before"])
def test_a_refresh_skips_a_week_an_unfinished_import_is_writing_and_it_stays_stale(engine: Engine, marked_before):
    """The import's mark is either an existing one it locked (the week was stale already) or a
    new one the refresh cannot see yet; either way the refresh neither waits nor clears it."""
    (a,) = agreements(engine, 1)
    monday = dt.date(2020, 11, 23)
    with Session(engine) as session, session.begin():
        loaders.store_counts(session, [(a, monday, 10, None)], [])
        if not marked_before:
            weektable.refresh(session)
    week = weektable.week_of(monday)
    params = Parameters(window_days=7, redundant_after_days=7)
    as_of = monday + dt.timedelta(days=7)
    importing = Session(engine)
    loaders.store_counts(importing, [(a, monday + dt.timedelta(days=1), 5, None)], [])  # not committed
    with Session(engine) as session:
        # A hang guard, not a time limit: the refresh must skip the mark the import holds.
        session.execute(text("SET LOCAL lock_timeout = '20s'"))
        assert weektable.refresh(session) == []
        session.commit()
    importing.commit()
    importing.close()
    with Session(engine) as session:
        assert session.scalars(select(StaleWeek.week)).all() == [week]
        assert queries.call_sums(session, as_of, params) == {a: queries.CallSums(15, 15)}
        assert weektable.refresh(session) == [week]
        session.commit()
        assert queries.call_sums(session, as_of, params) == {a: queries.CallSums(15, 15)}
        assert session.scalars(select(AgreementWeek.calls).where(AgreementWeek.week == week)).all() == [15]


def test_a_large_file_of_new_days_marks_its_weeks_and_leaves_the_trigger_on(engine, now, monkeypatch):
    """The columns' COPY of new day rows (PostgreSQL: with the insert trigger off for it, the span's
    weeks marked instead) leaves the same marks and sums as any other write, and the trigger on."""
    from monitor.collectors.calls import columnar

    load(engine, "agreements", AGREEMENTS, now)
    monkeypatch.setattr(columnar, "MIN_BYTES", 0)
    monday = dt.date(2020, 11, 2)
    lines = "".join(f"{monday + dt.timedelta(days=i)},{a},{i + 1}\n" for i in range(15) for a in (A1, A2))
    result = load(engine, "calls", "period_start,agreement_uuid,calls\n" + lines, now)
    assert (result.outcome, result.stored) == ("imported", 30)
    week = weektable.week_of(monday)
    with Session(engine) as session:
        assert set(session.scalars(select(StaleWeek.week))) >= {week, week + 1, week + 2}
        params = Parameters(window_days=7, redundant_after_days=14)
        as_of = monday + dt.timedelta(days=14)
        expected = defined_sums(stored_days(engine), as_of, params)
        assert queries.call_sums(session, as_of, params) == expected
        weektable.refresh(session)
        session.commit()
        assert queries.call_sums(session, as_of, params) == expected
        assert weektable.mismatches(session) == 0
        if engine.dialect.name == "postgresql":
            assert session.scalar(text("SELECT tgenabled FROM pg_trigger WHERE tgname = 'agreement_days_inserted'")) == "O"
    # The next write of one of those days is marked by the trigger again.
    load(engine, "calls", f"period_start,agreement_uuid,calls\n{monday},{A1},99\n", now)
    with Session(engine) as session:
        assert session.scalars(select(StaleWeek.week)).all() == [week]


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_the_rating_sums_run_without_parallel_workers_and_leave_the_setting_as_it_was(engine):
    from sqlalchemy import event

    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def watch(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    with Session(engine) as session:
        before = session.scalar(text("SHOW max_parallel_workers_per_gather"))
        queries.gather(session, dt.date(2020, 11, 28), Parameters())
        assert session.scalar(text("SHOW max_parallel_workers_per_gather")) == before
    sums_at = next(i for i, s in enumerate(seen) if "agreement_weeks" in s and "sum(" in s)
    assert seen[sums_at - 1] == "SET LOCAL max_parallel_workers_per_gather = 0"
    assert seen[sums_at + 1] == "SET LOCAL max_parallel_workers_per_gather TO DEFAULT"

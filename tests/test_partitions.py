"""This and next month's partitions of hourly_calls are made ahead of the files that need them: by
the scheduler's `partitions` job (a recorded run, its clock passed in) and by `monitor db
partitions`; /drift lists the months; an import as a database user that does not own
hourly_calls, of a month nobody made, is rejected saying what to run; on SQLite nothing happens."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from monitor import partitions
from monitor.db import make_engine
from monitor.models import CollectorRun
from monitor.partitions import Month
from monitor.scheduler import job_table
from monitor.settings import DatabaseSettings
from tests.cli_helpers import printed, run_cli
from tests.conftest import PG_ADMIN_URL
from tests.import_helpers import A1, A2, AGREEMENTS, load, rows

HEADER = "period_start,agreement_uuid,calls,errors\n"
on_postgresql = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)]


def months(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return [str(m) for m in sorted(partitions.existing(session))]


def job_runs(engine: Engine) -> list[CollectorRun]:
    with Session(engine) as session:
        return list(session.scalars(select(CollectorRun).where(CollectorRun.collector == "partitions")
                                    .order_by(CollectorRun.id)))


def hours_file(first: dt.datetime, hours: int) -> str:
    return HEADER + "".join(f"{(first + dt.timedelta(hours=h)).isoformat()},{a},{h + 1},0\n"
                            for h in range(hours) for a in (A1, A2))


# --- the months ahead, pure ------------------------------------------------------------------------

@pytest.mark.parametrize(("now", "expected"), [
    # 1 January 00:30 in Copenhagen is still 31 December in UTC, the partitions' months.
    (dt.datetime(2027, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))), ["2026-12", "2027-01"]),
    (dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC), ["2026-12", "2027-01"]),
    (dt.datetime(2027, 1, 1, 0, 0, tzinfo=dt.UTC), ["2027-01", "2027-02"]),
    (dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.UTC), ["2026-11", "2026-12"]),
    # The nights the clocks change (29 March and 25 October 2026) are months like any other.
    (dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC), ["2026-03", "2026-04"]),
    (dt.datetime(2026, 3, 31, 22, 30, tzinfo=dt.UTC), ["2026-03", "2026-04"]),  # 1 April 00:30 CEST
    (dt.datetime(2026, 10, 31, 23, 30, tzinfo=dt.UTC), ["2026-10", "2026-11"]),  # 1 November 00:30 CET
])
def test_the_months_ahead_are_the_utc_month_of_now_and_the_next(now, expected):
    assert [str(m) for m in partitions.months_ahead(now)] == expected


def test_the_month_after_december_is_january_of_the_next_year():
    assert Month(2026, 12).next == Month(2027, 1)
    assert Month(2027, 1).next.start == Month(2027, 1).end == dt.datetime(2027, 2, 1)


# --- SQLite: nothing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_on_sqlite_the_job_and_the_command_do_nothing_and_record_nothing(engine, settings, monkeypatch):
    now = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)
    assert partitions.ensure_ahead(engine, settings, now) == []
    assert job_runs(engine) == []
    with Session(engine) as session:
        assert partitions.overview(session, now) is None
        assert partitions.ensure_hourly(session, [dt.datetime(2031, 5, 1)]) == []
    result = run_cli(monkeypatch, settings, "db", "partitions")
    assert result.exit_code == 0
    assert printed(result) == ["SQLite keeps hourly_calls in one table: there are no partitions to make"]


# --- PostgreSQL: the job -------------------------------------------------------------------------------

@pytest.mark.parametrize(("now", "expected"), [
    (dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC), ["2026-12", "2027-01"]),  # 1 January 00:30 CET
    (dt.datetime(2027, 1, 1, 0, 30, tzinfo=dt.UTC), ["2027-01", "2027-02"]),
    (dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC), ["2026-03", "2026-04"]),  # before the spring change
    (dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.UTC), ["2026-10", "2026-11"]),  # after the autumn change
])
@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_job_makes_this_and_next_month_once_and_records_each_run(engine, settings, now, expected):
    assert [str(m) for m in partitions.ensure_ahead(engine, settings, now)] == expected
    assert months(engine) == expected
    assert partitions.ensure_ahead(engine, settings, now + dt.timedelta(minutes=10)) == []  # made already
    first, second = job_runs(engine)
    assert (first.outcome, second.outcome) == ("success", "success")
    assert first.started_at == now.replace(tzinfo=None) or first.started_at == now  # the clock passed in
    assert first.details == {"made": expected, "months": expected}
    assert second.details == {"made": [], "months": expected}
    following = partitions.months_ahead(now)[1]
    bounds = rows(engine, f"SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = '{following.name}'")
    assert bounds == [(f"FOR VALUES FROM ('{following.start}') TO ('{following.end}')",)]


def test_the_scheduler_runs_the_partitions_job_at_start_and_every_night(settings):
    job = {j.id: j for j in job_table(settings)}["partitions"]
    assert job.target == "monitor.partitions:ensure_ahead"
    assert job.run_at_start
    assert str(job.trigger.fields[5]) == "0" and str(job.trigger.fields[6]) == "20"  # 00:20 Copenhagen


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_command_makes_the_months_ahead_of_the_time_given_and_lists_them(engine, settings, monkeypatch):
    result = run_cli(monkeypatch, settings, "db", "partitions", "--now", "2027-01-01T00:30:00+01:00")
    assert result.exit_code == 0, result.output
    assert printed(result) == ["made: 2026-12, 2027-01", "partitions of hourly_calls: 2026-12, 2027-01"]
    again = run_cli(monkeypatch, settings, "db", "partitions", "--now", "2027-01-01T00:30:00+01:00")
    assert printed(again)[0] == "made: none (they existed)"
    assert [r.outcome for r in job_runs(engine)] == ["success", "success"]


# --- PostgreSQL: a service user that does not own hourly_calls ---------------------------------------

@pytest.fixture
def service_user(engine: Engine, settings) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """An engine of a database user that may read and write every table, and create tables, but owns none."""
    role = f"monitor_service_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(PG_ADMIN_URL).set(database=engine.url.database), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'GRANT USAGE, CREATE ON SCHEMA public TO "{role}"'))
        conn.execute(text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"'))
        conn.execute(text(f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO "{role}"'))
    service = make_engine(engine.url.set(username=role).render_as_string(hide_password=False))
    try:
        yield service
    finally:
        service.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_an_import_of_a_month_nobody_made_as_a_user_that_owns_no_table_is_rejected_saying_what_to_run(
        engine, settings, service_user):
    now = dt.datetime(2027, 1, 1, 6, 0, tzinfo=dt.UTC)
    assert load(engine, "agreements", AGREEMENTS, now).outcome == "imported"
    # The Copenhagen night of 31 December to 1 January: hours of two UTC months.
    hours = hours_file(dt.datetime(2026, 12, 31, 21, 0, tzinfo=dt.UTC), 6)
    result = load(service_user, "calls", hours, now, name="nytaar.csv")
    assert result.outcome == "rejected"
    [problem] = result.problems
    assert "hourly_calls has no partition for 2026-12, 2027-01" in problem.reason
    assert "may not make one: only the owner of hourly_calls (postgres) can" in problem.reason
    assert "Run `monitor db partitions --month 2026-12 --month 2027-01` as the owner" in problem.reason
    assert "import it again" in problem.reason and "Error" not in problem.reason
    assert months(engine) == []
    assert rows(engine, "SELECT count(*) FROM hourly_calls") == [(0,)]
    assert rows(engine, "SELECT status FROM imported_files WHERE name = 'nytaar.csv'") == [("rejected",)]

    # The job as that user fails, recorded with the same words.
    with pytest.raises(partitions.PartitionsNotAllowed):
        partitions.ensure_ahead(service_user, settings, now)
    [failed] = job_runs(engine)
    assert failed.outcome == "failure" and "Run `monitor db partitions --month 2027-01 --month 2027-02` as the owner" \
        in failed.message

    # Run as the owner, the months exist; the same file then imports as the service user.
    assert [str(m) for m in partitions.ensure_ahead(engine, settings, now - dt.timedelta(hours=7))] == [
        "2026-12", "2027-01"]
    again = load(service_user, "calls", hours, now, name="nytaar.csv")
    assert again.outcome == "imported", again.report()
    assert rows(engine, "SELECT count(*) FROM hourly_calls_2026_12") == [(6,)]  # 21:00–23:00 UTC
    assert rows(engine, "SELECT count(*) FROM hourly_calls_2027_01") == [(6,)]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_catch_up_of_an_old_month_is_rejected_naming_the_command_that_makes_that_month_and_imports_after_it(
        engine, settings, service_user, monkeypatch):
    now = dt.datetime(2026, 12, 7, 6, 0, tzinfo=dt.UTC)
    assert load(engine, "agreements", AGREEMENTS, now).outcome == "imported"
    partitions.ensure_ahead(engine, settings, now)  # this and next month exist, as the scheduler makes them
    hours = hours_file(dt.datetime(2026, 3, 31, 23, 0, tzinfo=dt.UTC), 2)  # March's last hours and April's first
    result = load(service_user, "calls", hours, now, name="indhentning.csv")
    [problem] = result.problems
    assert "Run `monitor db partitions --month 2026-03 --month 2026-04` as the owner" in problem.reason

    made = run_cli(monkeypatch, settings, "db", "partitions", "--month", "2026-03", "--month", "2026-04",
                   "--now", now.isoformat())
    assert made.exit_code == 0, made.output
    assert printed(made) == ["made: 2026-03, 2026-04", "partitions of hourly_calls: 2026-03, 2026-04, 2026-12, 2027-01"]
    again = load(service_user, "calls", hours + "\n", now, name="indhentning.csv")
    assert again.outcome == "imported", again.report()


@pytest.mark.parametrize("value", ["2026-3", "26-03", "2026-13", "1999-12", "marts", "2026-03-01", ""])
def test_a_month_that_is_not_yyyy_mm_is_refused_by_the_command(settings, monkeypatch, value):
    result = run_cli(monkeypatch, settings, "db", "partitions", "--month", value)
    assert result.exit_code == 2
    assert "is not a month written YYYY-MM (2000-01 to 9999-12)" in result.output
    assert "Traceback" not in result.output


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_command_as_a_user_that_owns_no_table_exits_1_saying_what_to_run(settings, service_user, monkeypatch):
    as_service = dataclasses.replace(settings, database=DatabaseSettings(
        url=service_user.url.render_as_string(hide_password=False)))
    result = run_cli(monkeypatch, as_service, "db", "partitions", "--now", "2027-01-01T00:30:00+01:00")
    assert result.exit_code == 1
    assert "may not make one: only the owner of hourly_calls" in result.output
    assert "Traceback" not in result.output


# --- /drift ------------------------------------------------------------------------------------------------

def test_drift_lists_the_months_with_a_partition_and_warns_of_a_missing_one(app, client, engine, settings):
    from tests.auth_helpers import app_now, sign_in

    sign_in(client)
    html = client.get("/drift").get_data(as_text=True)
    if engine.dialect.name != "postgresql":
        assert 'id="partitioner"' not in html
        return
    now = app_now(app)
    this, following = partitions.months_ahead(now)
    section = html.split('id="partitioner"')[1].split("<h2")[0]
    assert f"Ingen partition for {this}, {following}. Kør monitor db partitions som ejer af hourly_calls." in section
    partitions.ensure_ahead(engine, settings, now)
    html = client.get("/drift").get_data(as_text=True)
    section = html.split('id="partitioner"')[1].split("<h2")[0]
    assert "Ingen partition" not in section
    assert f"Måneder med en partition: {this}, {following}." in section
    assert "Månedspartitioner for timekaldstal" in html.split('id="indsamling"')[1]  # the job's run
    english = client.get("/drift?lang=en").get_data(as_text=True)
    assert f"Months with a partition: {this}, {following}." in english
    assert "1 month made" not in english and "2 months made" in english

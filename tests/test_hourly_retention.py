"""[retention] hourly_days: hours older than the bound are rolled into daily counts exactly once
and deleted; a day with a daily count keeps it; nothing newer is touched; the rating stays."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.collectors.calls.hourly_retention import apply_hourly_retention, cutoff_day
from monitor.db import session_factory
from monitor.localtime import CPH
from monitor.rating.service import compute
from monitor.scheduler import job_table
from tests.conftest import make_settings
from tests.import_helpers import A1, A2, AGREEMENTS, load, rows

HOURLY_DAYS = 30  # with the frozen `now` (28 November 2020) hours before 29 October go


def hours_of(day: dt.date) -> list[dt.datetime]:
    """Every hour of a Copenhagen day as an instant with its offset (23, 24 or 25 of them)."""
    start = dt.datetime.combine(day, dt.time(), CPH).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), CPH).astimezone(dt.UTC)
    return [(start + dt.timedelta(hours=n)).astimezone(CPH) for n in range((end - start) // dt.timedelta(hours=1))]


def hourly_file(*plan: tuple[str, dt.date, int]) -> str:
    """A calls CSV with every hour of each (agreement, day), `base` + the hour's index calls, 1 error."""
    lines = ["period_start,agreement_uuid,calls,errors"]
    for agreement, day, base in plan:
        lines += [f"{hour.isoformat()},{agreement},{base + n},1" for n, hour in enumerate(hours_of(day))]
    return "\n".join(lines) + "\n"


OLD = dt.date(2020, 10, 20)  # no daily count: rolled up
SHADOWED = dt.date(2020, 10, 21)  # has a daily count: it stays, the hours go
DST = dt.date(2020, 10, 25)  # 25 hours in Copenhagen
LAST_OLD = dt.date(2020, 10, 28)  # the day before the cutoff
KEPT = dt.date(2020, 10, 29)  # the cutoff day itself: kept whole
RECENT = dt.date(2020, 11, 27)


@pytest.fixture
def retention_settings(tmp_path, db_url):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, db_url, retention={"hourly_days": HOURLY_DAYS})


@pytest.fixture
def loaded(engine, retention_settings, now):  # type: ignore[no-untyped-def]
    load(engine, "agreements", AGREEMENTS, now)
    hourly = hourly_file((A1, OLD, 10), (A1, SHADOWED, 20), (A2, DST, 5), (A2, LAST_OLD, 7),
                         (A1, KEPT, 3), (A2, RECENT, 4))
    assert load(engine, "calls", hourly, now, name="hours.csv").ok
    daily = f"period_start,agreement_uuid,calls,errors\n{SHADOWED},{A1},999,9\n{RECENT},{A1},50,0\n"
    assert load(engine, "calls", daily, now, name="days.csv").ok
    return engine


def day_sum(n_hours: int, base: int) -> int:
    return sum(base + n for n in range(n_hours))


def daily(engine) -> dict[tuple[str, str], tuple[int, int | None]]:  # type: ignore[no-untyped-def]
    found = rows(engine, "SELECT a.uuid, d.day, d.calls, d.errors FROM daily_calls d "
                         "JOIN agreements a ON a.id = d.agreement_id")
    return {(uuid, str(day)): (calls, errors) for uuid, day, calls, errors in found}


def hourly_days(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {str(day): n for day, n in rows(engine, "SELECT day, count(*) FROM hourly_calls GROUP BY day")}


def test_the_cutoff_is_hourly_days_before_todays_copenhagen_date(retention_settings, now):
    assert cutoff_day(retention_settings, now) == KEPT
    late_evening = dt.datetime(2020, 11, 28, 23, 30, tzinfo=dt.UTC)  # already 29 November in Copenhagen
    assert cutoff_day(retention_settings, late_evening) == KEPT + dt.timedelta(days=1)


def test_old_hours_are_rolled_into_daily_counts_and_deleted(loaded, retention_settings, now):
    result = apply_hourly_retention(loaded, retention_settings, now)
    counts = daily(loaded)
    assert (result.days, result.daily_rows) == (4, 3), counts
    assert result.hourly_rows == 24 + 24 + 25 + 24
    counts = daily(loaded)
    assert counts[(A1, str(OLD))] == (day_sum(24, 10), 24)
    assert counts[(A2, str(DST))] == (day_sum(25, 5), 25)
    assert counts[(A2, str(LAST_OLD))] == (day_sum(24, 7), 24)
    assert hourly_days(loaded) == {str(KEPT): 24, str(RECENT): 24}


def test_a_day_with_a_daily_count_keeps_its_daily_count(loaded, retention_settings, now):
    apply_hourly_retention(loaded, retention_settings, now)
    assert daily(loaded)[(A1, str(SHADOWED))] == (999, 9)


def test_nothing_newer_than_the_bound_is_touched(loaded, retention_settings, now):
    newer = "SELECT agreement_id, hour, day, calls, errors FROM hourly_calls WHERE day >= '2020-10-29' ORDER BY 1, 2"
    before_hours, before_days = rows(loaded, newer), daily(loaded)
    apply_hourly_retention(loaded, retention_settings, now)
    assert rows(loaded, newer) == before_hours
    after_days = daily(loaded)
    assert {k: v for k, v in after_days.items() if k[1] >= str(KEPT)} == \
        {k: v for k, v in before_days.items() if k[1] >= str(KEPT)}


def test_a_second_pass_rolls_up_nothing_again(loaded, retention_settings, now):
    apply_hourly_retention(loaded, retention_settings, now)
    first = daily(loaded)
    again = apply_hourly_retention(loaded, retention_settings, now)
    assert (again.days, again.daily_rows, again.hourly_rows) == (0, 0, 0)
    assert daily(loaded) == first


@pytest.mark.parametrize("as_of", [dt.date(2020, 10, 22), dt.date(2020, 10, 30), dt.date(2020, 11, 28)])
def test_the_rating_before_and_after_the_rollup_is_the_same(loaded, retention_settings, now, as_of):
    sessions = session_factory(loaded)
    with sessions() as session:
        before = compute(session, retention_settings, as_of)
    apply_hourly_retention(loaded, retention_settings, now)
    with sessions() as session:
        after = compute(session, retention_settings, as_of)
    assert after == before
    assert len(before[0]) == 98


SEPTEMBER = dt.date(2020, 9, 15)  # its month lies wholly before the cut-off: dropped on PostgreSQL
FIRST_OF_OCTOBER = dt.date(2020, 10, 1)  # its first two hours are September's in UTC


def test_months_wholly_before_the_cutoff_go_whole_on_postgresql_and_by_the_day_on_sqlite(
        engine, retention_settings, now):
    load(engine, "agreements", AGREEMENTS, now)
    plan = ((A1, SEPTEMBER, 10), (A2, FIRST_OF_OCTOBER, 5), (A1, OLD, 3), (A1, KEPT, 3))
    assert load(engine, "calls", hourly_file(*plan), now, name="hours.csv").ok
    days_before = rows(engine, "SELECT day, agreement_id, calls FROM agreement_days ORDER BY 1, 2")
    postgres = engine.dialect.name == "postgresql"
    if postgres:
        assert partition_names(engine) == ["hourly_calls_2020_09", "hourly_calls_2020_10"]
    result = apply_hourly_retention(engine, retention_settings, now)
    assert (result.days, result.daily_rows, result.hourly_rows) == (3, 3, 3 * 24)
    assert result.partitions == (1 if postgres else 0)
    counts = daily(engine)
    assert counts[(A1, str(SEPTEMBER))] == (day_sum(24, 10), 24)
    assert counts[(A2, str(FIRST_OF_OCTOBER))] == (day_sum(24, 5), 24)
    assert hourly_days(engine) == {str(KEPT): 24}
    assert rows(engine, "SELECT day, agreement_id, calls FROM agreement_days ORDER BY 1, 2") == days_before
    if postgres:
        assert partition_names(engine) == ["hourly_calls_2020_10"]
        assert rows(engine, "SELECT to_regclass('hourly_calls_2020_09')") == [(None,)]
    again = apply_hourly_retention(engine, retention_settings, now)
    assert (again.days, again.daily_rows, again.hourly_rows, again.partitions) == (0, 0, 0, 0)


def partition_names(engine) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(r[0] for r in rows(engine, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                             "WHERE i.inhparent = 'hourly_calls'::regclass"))


def test_the_scheduler_rolls_up_old_hours_every_night(retention_settings):
    jobs = {job.id: job for job in job_table(retention_settings)}
    job = jobs["hourly-retention"]
    assert job.target == "monitor.collectors.calls.hourly_retention:apply_hourly_retention"
    assert not job.run_at_start


def test_the_service_health_page_shows_the_table_sizes_and_the_retention(client, engine, now):
    from tests.auth_helpers import sign_in

    load(engine, "agreements", AGREEMENTS, now)
    assert load(engine, "calls", hourly_file((A1, OLD, 1), (A2, DST, 1)), now, name="hours.csv").ok
    html = sign_in(client).get("/drift").get_data(as_text=True)
    section = html.split('id="tabeller"')[1].split("<h2")[0]
    assert "Timekaldstal ældre end 400 dage" in section
    hourly = section.split("<code>hourly_calls</code>")[1].split("</tr>")[0]
    agreements = section.split("<code>agreements</code>")[1].split("</tr>")[0]
    # Counted (SQLite, and PostgreSQL before its first ANALYZE of the table) or estimated after one.
    assert ">49<" in hourly or "ca. " in hourly
    assert ">2<" in agreements or "ca. " in agreements
    english = client.get("/drift?lang=en").get_data(as_text=True)
    assert "Hourly call counts older than 400 days" in english and "Table sizes" in english


def test_the_table_sizes_on_postgresql_are_its_estimates_once_analysed(engine, now):
    from monitor.integrity import table_sizes

    load(engine, "agreements", AGREEMENTS, now)
    load(engine, "calls", hourly_file((A1, OLD, 1), (A1, SEPTEMBER, 1)), now, name="hours.csv")
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE hourly_calls")
    with session_factory(engine)() as session:
        sizes = {size.table: size for size in table_sizes(session)}
    assert sizes["hourly_calls"].rows == 48  # on PostgreSQL the sum of its two monthly partitions
    assert sizes["hourly_calls"].estimated == (engine.dialect.name == "postgresql")
    assert sizes["agreements"].rows == 2
    assert sizes["agreement_weeks"].rows == 0  # the weeks the hours' day rows marked stale: made by a refresh


@pytest.mark.parametrize("data, message", [
    ({"retention": {"hourly_days": 0}}, "retention.hourly_days: must be at least 29"),
    ({"retention": {"hourly_days": 28}}, "retention.hourly_days: must be at least 29"),
    ({"retention": {"hourly_days": 60}, "cutover": {"baseline_days": 7, "baseline_weeks": 10}},
     "retention.hourly_days: must be at least 71"),
    ({"retention": {"hourly_days": "400"}}, "retention.hourly_days: expected an integer"),
    ({"retention": {"hourly_dayz": 400}}, "retention.hourly_dayz: unknown key"),
])
def test_a_retention_shorter_than_the_cut_over_baseline_reaches_is_refused(data, message):
    from monitor.settings import ConfigError, from_mapping

    with pytest.raises(ConfigError) as info:
        from_mapping(data, ".", environ={})
    assert message in str(info.value)

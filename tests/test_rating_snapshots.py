"""The pages and the API show a stored snapshot and never compute on a request; the scheduler's
catch-up job stores today's snapshot as soon as yesterday's calls are all in."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor import create_app
from monitor.localtime import CPH
from monitor.models import RatingRun
from monitor.rating import queries, service
from monitor.rating.service import catch_up, store_snapshot
from monitor.settings import Settings
from tests.rating_helpers import AS_OF, add_agreement, add_hourly, small_country


def at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), CPH)


def stored_days(session: Session) -> list[tuple[dt.date, int]]:
    session.expire_all()
    return [tuple(r) for r in session.execute(select(RatingRun.as_of, RatingRun.revision).order_by(RatingRun.id))]


def test_the_pages_and_the_api_show_the_newest_snapshot_with_its_day_and_compute_nothing(
        session: Session, engine, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    small_country(session)
    older = AS_OF - dt.timedelta(days=2)
    store_snapshot(engine, settings, older, now=at(older, 6))
    app = create_app(settings)
    app.config.update(TESTING=True)

    def no_computing(*args: object, **kwargs: object) -> object:
        raise AssertionError("a request computed a rating")

    monkeypatch.setattr(service, "compute", no_computing)
    client = app.test_client()
    with time_machine.travel(at(AS_OF, 12), tick=False):
        ratings = client.get("/api/v1/ratings").get_json()
        assert (ratings["as_of"], ratings["stored"]) == (older.isoformat(), True)
        municipality = client.get("/api/v1/municipalities/101").get_json()
        assert municipality["as_of"] == older.isoformat()
        page = client.get("/kommune/101").get_data(as_text=True)
        assert "26.11.2020" in page  # the page says which day it shows
        assert client.get("/").status_code == 200
        monkeypatch.undo()  # an explicit day without a snapshot is computed, and not stored
        asked = client.get(f"/api/v1/ratings?as_of={AS_OF.isoformat()}").get_json()
    assert (asked["as_of"], asked["stored"]) == (AS_OF.isoformat(), False)
    assert stored_days(session) == [(older, 1)]
    app.extensions["monitor"].engine.dispose()


def test_an_installation_that_has_stored_nothing_computes_todays_unstored(
        session: Session, engine, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    small_country(session)
    with time_machine.travel(at(AS_OF, 12), tick=False):
        doc = service.ratings_document(session, settings)
    assert (doc["as_of"], doc["stored"]) == (AS_OF.isoformat(), False)


def test_the_catch_up_job_stores_todays_snapshot_once_yesterday_is_in_and_only_once(
        session: Session, engine, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    small_country(session)  # daily counts up to the day before AS_OF
    tomorrow = AS_OF + dt.timedelta(days=1)
    agreement = add_agreement(session, "hourly", it_system="sys-h")
    for hour in range(0, 23):  # AS_OF up to 22:00: not complete
        add_hourly(session, agreement, at(AS_OF, hour).replace(tzinfo=None), 5)
    session.commit()
    assert catch_up(engine, settings, at(tomorrow, 0).astimezone(dt.UTC)) is None
    assert stored_days(session) == []
    add_hourly(session, agreement, at(AS_OF, 23).replace(tzinfo=None), 5)
    session.commit()
    assert catch_up(engine, settings, at(tomorrow, 0).astimezone(dt.UTC)) == 1
    assert catch_up(engine, settings, at(tomorrow, 1).astimezone(dt.UTC)) is None  # today has one
    assert stored_days(session) == [(tomorrow, 1)]
    # Today (AS_OF) itself: yesterday has a daily count, so it is stored at once too.
    assert catch_up(engine, settings, at(AS_OF, 0).astimezone(dt.UTC)) == 1


@pytest.mark.parametrize(("day", "hours"), [
    (dt.date(2026, 10, 25), 25),  # the clocks go back: 23:00 is the 25th hour
    (dt.date(2026, 3, 29), 23),  # the clocks go forward: 23:00 is the 23rd hour
    (dt.date(2026, 11, 28), 24),
])
def test_a_day_is_complete_with_its_2300_hour_on_the_dst_days_too(session: Session, day: dt.date, hours: int) -> None:
    agreement = add_agreement(session, "hourly", it_system="sys-h")
    start = at(day, 0).astimezone(dt.UTC)
    stamps = [start + dt.timedelta(hours=i) for i in range(hours)]
    assert stamps[-1].astimezone(CPH).hour == 23 and stamps[-1].astimezone(CPH).date() == day
    for stamp in stamps[:-1]:
        local = stamp.astimezone(CPH)
        add_hourly(session, agreement, local.replace(tzinfo=None, fold=local.fold), 1)
    session.commit()
    assert not queries.day_complete(session, day)
    add_hourly(session, agreement, stamps[-1].astimezone(CPH).replace(tzinfo=None), 1)
    session.commit()
    assert queries.day_complete(session, day)
    assert not queries.day_complete(session, day + dt.timedelta(days=1))


def test_the_daily_run_after_the_catch_up_stores_no_copy_but_stores_a_change(
        session: Session, engine, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    small_country(session)  # daily counts up to the day before AS_OF
    tomorrow = AS_OF + dt.timedelta(days=1)
    agreement = add_agreement(session, "hourly", it_system="sys-h")
    for hour in range(24):
        add_hourly(session, agreement, at(AS_OF, hour).replace(tzinfo=None), 5)
    session.commit()
    assert catch_up(engine, settings, at(tomorrow, 0).astimezone(dt.UTC)) == 1
    assert service.run_daily(engine, settings, at(tomorrow, 6).astimezone(dt.UTC)) == 1  # nothing new
    assert stored_days(session) == [(tomorrow, 1)]
    late = add_agreement(session, "late", it_system="sys-late")  # a file that arrived after the catch-up
    add_hourly(session, late, at(AS_OF, 12).replace(tzinfo=None), 40)
    session.commit()
    assert service.run_daily(engine, settings, at(tomorrow, 6).astimezone(dt.UTC)) == 2
    assert stored_days(session) == [(tomorrow, 1), (tomorrow, 2)]
    assert service.run_daily(engine, settings, at(tomorrow, 7).astimezone(dt.UTC)) == 2
    assert store_snapshot(engine, settings, tomorrow) == 3  # `monitor rate` asked by hand always stores

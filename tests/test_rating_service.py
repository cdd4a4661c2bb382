"""Ratings on both databases: the queries, stored revisions, method versions and `monitor rate`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from monitor import cli as cli_module
from monitor.cli import cli
from monitor.db import engine_for
from monitor.models import RatingResult, RatingRun
from monitor.rating.method import Parameters
from monitor.rating.queries import call_sums, missing_days
from monitor.rating.service import (
    MethodChanged,
    assert_method_consistent,
    latest_snapshot_scores,
    municipality_document,
    ratings_document,
    run_daily,
    store_snapshot,
)
from monitor.settings import ConfigError
from tests.cli_helpers import printed, run_cli
from tests.rating_helpers import (
    AS_OF,
    add_agreement,
    add_daily,
    add_hourly,
    days_before,
    set_municipality,
    small_country,
)

P = Parameters()


def rating_of(doc: dict, code: str = "101") -> dict:
    return next(r for r in doc["ratings"] if r["municipality"]["code"] == code)


@pytest.fixture
def country(session):
    """København with 1,000 citizens: one agreement calling 100 a day, one silent; window covered."""
    return small_country(session)


def test_a_days_calls_are_the_daily_count_else_the_sum_of_its_hours_never_both(session):
    a = add_agreement(session, "a")
    day, hours_only = AS_OF - dt.timedelta(days=2), AS_OF - dt.timedelta(days=3)
    add_daily(session, a, day, 100)
    add_hourly(session, a, dt.datetime(2020, 11, 26, 9), 30)   # same day as the daily count: ignored
    add_hourly(session, a, dt.datetime(2020, 11, 25, 9), 30)
    add_hourly(session, a, dt.datetime(2020, 11, 25, 10), 40)
    # 00:30 in Copenhagen is 23:30 UTC the day before: it belongs to the Copenhagen day.
    add_hourly(session, a, dt.datetime(2020, 11, 28, 0, 30), 1000)   # as_of itself: outside the window
    add_hourly(session, a, dt.datetime(2020, 10, 29, 0, 30), 7)   # the window's first day
    session.commit()
    assert hours_only == dt.date(2020, 11, 25)
    assert call_sums(session, AS_OF, P)[a].window == 100 + 30 + 40 + 7


def test_a_day_without_any_count_is_missing_and_an_hourly_count_covers_a_day(session):
    a = add_agreement(session, "a")
    add_daily(session, a, days_before(AS_OF, 30)[2:], 0)
    add_hourly(session, a, dt.datetime(2020, 10, 29, 0, 30), 5)
    session.commit()
    assert missing_days(session, *(dt.date(2020, 10, 29), dt.date(2020, 11, 27))) == [dt.date(2020, 10, 30)]


def test_the_rating_from_the_database_matches_the_hand_computed_total(country, settings):
    doc = ratings_document(country, settings, AS_OF)
    r = rating_of(doc)
    # sa: 2 active, 1 redundant, access control; cpc: 3,000 calls / 1,000 citizens; its: 1 of 2.
    assert r["score"] == pytest.approx(5.171493190228942, abs=1e-12)
    assert r["parts"]["calls_per_citizen"]["inputs"]["calls"] == 3000
    assert [a["uuid"] for a in r["parts"]["service_agreements"]["inputs"]["redundant_agreements"]] == ["b-silent"]
    assert doc["coverage"] == {"complete": True, "missing_days": [], "planned_outage_days": []}
    assert doc["stored"] is False and doc["revision"] is None
    assert doc["data_through"] == "2020-11-27"


def test_agreements_not_active_on_the_windows_last_day_do_not_count(session, settings):
    set_municipality(session, "101", population=1000)
    a = add_agreement(session, "a", it_system="sys-1")
    add_agreement(session, "ended", it_system="sys-2", valid_to=AS_OF - dt.timedelta(days=1))
    add_agreement(session, "future", it_system="sys-3", valid_from=AS_OF)
    add_agreement(session, "pending", it_system="sys-4", status="pending")
    add_daily(session, a, days_before(AS_OF, 90), 1)
    session.commit()
    inputs = rating_of(ratings_document(session, settings, AS_OF))["parts"]["service_agreements"]["inputs"]
    assert (inputs["active"], inputs["redundant"]) == (1, 0)


def test_missing_call_data_makes_every_municipality_inconclusive(session, settings):
    set_municipality(session, "101", population=1000)
    a = add_agreement(session, "a")
    add_daily(session, a, [d for d in days_before(AS_OF, 90) if d != dt.date(2020, 11, 11)], 5)
    session.commit()
    doc = ratings_document(session, settings, AS_OF)
    assert doc["coverage"] == {"complete": False, "missing_days": ["2020-11-11"], "planned_outage_days": []}
    assert {r["score"] for r in doc["ratings"]} == {None}
    assert "2020-11-11" in rating_of(doc)["reason_text"]
    assert len(doc["ratings"]) == 98


def test_municipalities_without_agreements_are_inconclusive_with_a_reason(country, settings):
    r = rating_of(ratings_document(country, settings, AS_OF), "147")
    assert (r["score"], r["status"], r["reason"]) == (None, "inconclusive", "no_active_agreements")


def test_a_second_run_is_a_new_revision_and_the_first_is_never_changed(country, engine, settings):
    assert store_snapshot(engine, settings, AS_OF) == 1
    first = ratings_document(country, settings, AS_OF)
    # More calls for the silent agreement change the next revision only.
    silent_id = add_agreement(country, "c-new", it_system="sys-2", valid_from=AS_OF - dt.timedelta(days=5))
    add_daily(country, silent_id, AS_OF - dt.timedelta(days=1), 50)
    country.commit()
    assert store_snapshot(engine, settings, AS_OF) == 2
    country.expire_all()
    runs = country.scalars(select(RatingRun).where(RatingRun.as_of == AS_OF).order_by(RatingRun.revision)).all()
    assert [r.revision for r in runs] == [1, 2]
    stored_first = {r.municipality_code: r.document for r in runs[0].results}
    assert stored_first["101"] == rating_of(first)
    newest = ratings_document(country, settings, AS_OF)
    assert newest["revision"] == 2 and newest["stored"] is True
    assert rating_of(newest)["score"] > rating_of(first)["score"]


def test_a_changed_parameter_under_the_same_version_is_refused(country, engine, settings, monkeypatch):
    store_snapshot(engine, settings, AS_OF)
    changed = dataclasses.replace(settings, rating=dataclasses.replace(settings.rating, window_days=28))
    with pytest.raises(MethodChanged, match="rating.method_version") as caught:
        assert_method_consistent(engine, changed)
    assert isinstance(caught.value, ConfigError)
    with pytest.raises(MethodChanged):
        store_snapshot(engine, changed, AS_OF)
    result = run_cli(monkeypatch, changed, "rate", "--as-of", AS_OF.isoformat())
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: rating.method_version")
    assert country.scalar(select(func.count()).select_from(RatingRun)) == 1
    # A new version with the new parameters is fine, and the old runs stay.
    renamed = dataclasses.replace(changed, rating=dataclasses.replace(changed.rating, method_version="2021.01"))
    assert_method_consistent(engine, renamed)
    assert store_snapshot(engine, renamed, AS_OF) == 2
    assert ratings_document(country, renamed, AS_OF)["method"]["version"] == "2021.01"


def test_the_daily_job_stores_a_snapshot_for_today_in_copenhagen(country, engine, settings):
    # 23:30 UTC on 27 November is already 28 November in Copenhagen.
    assert run_daily(engine, settings, now=dt.datetime(2020, 11, 27, 23, 30, tzinfo=dt.UTC)) == 1
    assert country.scalar(select(RatingRun.as_of)) == AS_OF


def test_latest_snapshot_scores_reads_the_newest_stored_run(country, engine, settings):
    assert latest_snapshot_scores(country) == []
    store_snapshot(engine, settings, AS_OF - dt.timedelta(days=1))
    store_snapshot(engine, settings, AS_OF)
    scores = {s.code: s for s in latest_snapshot_scores(country)}
    assert len(scores) == 98
    expected = ratings_document(country, settings, AS_OF)
    assert scores["101"].score == rating_of(expected)["score"]
    assert scores["101"].name == "København"
    assert scores["101"].parts["it_systems_with_calls"] == pytest.approx(5.5)
    assert scores["147"].score is None


def test_the_municipality_document_explains_agreements_price_and_history(country, engine, settings):
    then = AS_OF - dt.timedelta(days=30)
    store_snapshot(engine, settings, then)
    store_snapshot(engine, settings, AS_OF)
    store_snapshot(engine, settings, AS_OF)
    doc = municipality_document(country, settings, "0101", AS_OF)
    assert doc["municipality"]["code"] == "101"
    assert doc["municipality"]["population"] == 1000
    by_uuid = {a["uuid"]: a for a in doc["agreements"]}
    assert by_uuid["b-silent"]["redundant"] is True and by_uuid["b-silent"]["redundant_reasons"] == ["no_calls"]
    assert by_uuid["a-busy"]["calls_window"] == 3000 and by_uuid["a-busy"]["calls_recent"] == 9000
    assert [(s["uuid"], s["with_calls"]) for s in doc["it_systems"]] == [("sys-1", True), ("sys-2", False)]
    assert doc["price"]["yearly"] == 25_000
    assert doc["price"]["window"] == pytest.approx(25_000 * 30 / 365)
    assert doc["price"]["per_call"] == pytest.approx(25_000 * 30 / 365 / 3000)
    assert [(h["as_of"], h["revision"]) for h in doc["history"]] == [(then.isoformat(), 1), (AS_OF.isoformat(), 2)]
    # 30 days earlier the busy agreement had called for 60 of the 90 days: same score.
    assert doc["change_since_last_month"] == pytest.approx(rating_of(ratings_document(country, settings, AS_OF))[
        "score"] - doc["history"][0]["score"])
    assert doc["data_through"] == "2020-11-27"
    assert municipality_document(country, settings, "999", AS_OF) is None
    assert municipality_document(country, settings, "abc", AS_OF) is None


def test_the_price_is_half_for_citizens_above_the_threshold(country, settings):
    set_municipality(country, "101", population=200_000)
    country.commit()
    price = municipality_document(country, settings, "101", AS_OF)["price"]
    assert price["yearly"] == 25 * 150_000 + 12.5 * 50_000


def test_monitor_rate_json_prints_exactly_the_api_document(country, settings, tmp_path, client, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{settings.database.url}"\n', encoding="utf-8")
    engines = []  # the command's own engine, closed here rather than by the garbage collector
    monkeypatch.setattr(cli_module, "engine_for", lambda s: engines.append(engine_for(s)) or engines[-1])
    try:
        result = CliRunner().invoke(cli, ["--config", str(config), "rate", "--as-of", AS_OF.isoformat(), "--json"],
                                    env={"MONITOR_DATABASE_URL": "", "MONITOR_CONFIG": ""})
    finally:
        for e in engines:
            e.dispose()
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed == client.get(f"/api/v1/ratings?as_of={AS_OF.isoformat()}").get_json()
    assert printed["revision"] == 1 and len(printed["ratings"]) == 98
    assert country.scalar(select(func.count()).select_from(RatingResult)) == 98


def test_monitor_rate_prints_a_readable_table(country, engine, settings, monkeypatch):
    result = run_cli(monkeypatch, settings, "rate", "--as-of", AS_OF.isoformat())
    assert result.exit_code == 0
    lines = printed(result)
    assert lines[0].startswith("ratings as of 2020-11-28 · method 2020.12 · revision 1")
    row = next(line for line in lines if line.startswith("101 "))
    assert "København" in row and " 5.2 " in row
    assert lines[-1] == "1 conclusive, 97 inconclusive"

"""Availability from stored notices: the query on SQLite and PostgreSQL, the API, the pages and /metrics."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor import create_app, metrics
from monitor.availability import component_records
from monitor.db import session_factory
from monitor.localtime import CPH
from monitor.models import Notice, NoticeComponent, NoticeSource, NoticeUpdate
from monitor.web.pages.cache import cache_of
from tests.conftest import make_settings

# Friday 20 November 2026, 12:00 in Copenhagen.
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=CPH)


def samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """{sample name: {sorted label pairs: value}} of an exposition."""
    out: dict[str, dict] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def cph(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=CPH)


def add_notice(session, source, uid, kind, title, updates, components, impact=None, **times):  # type: ignore[no-untyped-def]
    """A stored notice with its updates [(status, local time)], as the collector leaves it."""
    ordered = sorted(updates, key=lambda u: u[1])
    status = ordered[-1][0]
    notice = Notice(source_id=source.id, upstream_id=uid, kind=kind, title=title, url=None, status=status,
                    impact=impact, started_at=times.pop("started_at", ordered[0][1]), updated_at=ordered[-1][1],
                    resolved_at=ordered[-1][1] if status in ("resolved", "completed") else None, **times)
    session.add(notice)
    session.flush()
    for slug in components:
        session.add(NoticeComponent(notice_id=notice.id, component_slug=slug))
    for s, at in ordered:
        session.add(NoticeUpdate(notice_id=notice.id, status=s, at=at, body_html=f"<p>{title}: {s}</p>"))
    return notice


def fill(session) -> None:  # type: ignore[no-untyped-def]
    """An outage over midnight on Serviceplatformen, a maintenance on Beskedfordeler, one naming nothing, one open."""
    source = NoticeSource(name="driftstatus", url="file:///feed.rss", kind="statuspage")
    session.add(source)
    session.flush()
    add_notice(session, source, "a", "incident", "Serviceplatformen svarer ikke",
               [("investigating", cph(2026, 11, 18, 23, 30)), ("resolved", cph(2026, 11, 19, 0, 45))],
               ["serviceplatformen"], impact="critical")
    add_notice(session, source, "b", "maintenance", "Opdatering af Beskedfordeleren",
               [("scheduled", cph(2026, 11, 10, 9, 0)), ("in_progress", cph(2026, 11, 19, 22, 0)),
                ("completed", cph(2026, 11, 20, 1, 0))],
               ["beskedfordeler"], scheduled_for=cph(2026, 11, 19, 22, 0), scheduled_until=cph(2026, 11, 20, 2, 0))
    add_notice(session, source, "c", "incident", "Langsomme svar i hele infrastrukturen",
               [("investigating", cph(2026, 11, 20, 8, 0)), ("resolved", cph(2026, 11, 20, 9, 0))], [],
               impact="major")
    add_notice(session, source, "d", "incident", "Organisation kan ikke opdateres",
               [("investigating", cph(2026, 11, 20, 11, 0))], ["organisation"], impact="critical")
    session.commit()


@pytest.fixture
def filled(engine):  # type: ignore[no-untyped-def]
    with session_factory(engine)() as session:
        fill(session)


@pytest.fixture
def at_now(app, filled):  # type: ignore[no-untyped-def]
    app.config["MONITOR_CLOCK"] = lambda: NOW.astimezone(dt.UTC)
    return app.test_client()


def test_the_stored_notices_give_each_component_its_minutes_per_day(filled, session, settings):
    records = {r.slug: r for r in component_records(session, settings, NOW.astimezone(dt.UTC), 3)}
    sp = records["serviceplatformen"].days
    assert [d.day for d in sp] == [dt.date(2026, 11, 18), dt.date(2026, 11, 19), dt.date(2026, 11, 20)]
    assert [(d.major, d.partial) for d in sp] == [(30, 0), (45, 0), (0, 60)]
    assert [d.minutes for d in sp] == [1440, 1440, 720]
    besked = records["beskedfordeler"].days
    assert [d.maintenance for d in besked] == [0, 120, 60] and besked[2].partial == 60
    organisation = records["organisation"].days[2]
    assert (organisation.major, organisation.partial) == (60, 60)  # open since 11:00, counted up to now


def test_the_api_gives_the_daily_figures_and_the_30_and_90_days(at_now):
    response = at_now.get("/api/v1/components/serviceplatformen/availability?days=3")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["component"] == "serviceplatformen"
    assert [d["date"] for d in doc["days"]] == ["2026-11-18", "2026-11-19", "2026-11-20"]
    assert doc["days"][0] == {"date": "2026-11-18", "minutes": 1440, "major_minutes": 30, "partial_minutes": 0,
                              "degraded_minutes": 0, "maintenance_minutes": 0,
                              "availability": round(1 - 30 / 1440, 6)}
    assert doc["days"][2]["availability"] == round(1 - 0.3 * 60 / 720, 6)
    judged = 28 * 1440 + 1500 + 720  # 22.10.–20.11.: 25 October had 25 hours; today up to noon
    assert doc["availability"]["30d"] == round(1 - (75 + 0.3 * 60) / judged, 6)
    assert len(at_now.get("/api/v1/components/serviceplatformen/availability").get_json()["days"]) == 90


@pytest.mark.parametrize("days", ["0", "367", "abc", "1e2", "-1", "", "٣"])
def test_the_api_refuses_a_number_of_days_outside_1_to_366(at_now, days):
    response = at_now.get(f"/api/v1/components/serviceplatformen/availability?days={days}")
    assert response.status_code == 400
    assert "days" in response.get_json()["error"]


def test_the_api_answers_404_for_an_unknown_component(at_now):
    response = at_now.get("/api/v1/components/ukendt/availability")
    assert response.status_code == 404 and "ukendt" in response.get_json()["error"]


def test_driftsstatus_shows_90_bars_per_component_each_in_words_and_linked_to_its_day(at_now, settings):
    html = at_now.get("/driftsstatus").get_data(as_text=True)
    rows = re.findall(r'<ol class="bars"[^>]*>(.*?)</ol>', html, re.S)
    assert len(rows) == len(settings.components)
    assert all(row.count("<li>") == 90 for row in rows)
    assert '<a class="bar s-major" href="/driftsstatus/serviceplatformen?dag=2026-11-18"' in html
    assert "18.11.2026: 97,92\u00a0% tilgængelig, nede 30 min." in html
    assert "30 dage: 99,78\u00a0%" in html
    assert "Planlagt vedligeholdelse er trukket fra" in html


def test_the_component_page_shows_the_chosen_days_notices(at_now):
    response = at_now.get("/driftsstatus/serviceplatformen?dag=2026-11-19")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    day = html.split('id="dag"')[1].split('id="maaneder"')[0]
    assert "Serviceplatformen svarer ikke" in day and "nede 45 min." in day
    assert "Langsomme svar" not in day


@pytest.mark.parametrize("query", ["dag=2026-13-01", "dag=i-går", "dag=1999-12-31", "dag=2026-11-21",
                                   "dag=20261119"])
def test_the_component_page_refuses_a_day_it_cannot_read_with_400(at_now, query):
    assert at_now.get(f"/driftsstatus/serviceplatformen?{query}").status_code == 400


def test_an_unknown_component_page_is_404(at_now):
    assert at_now.get("/driftsstatus/ukendt").status_code == 404


def test_the_component_page_compares_the_month_before_and_after_the_cutover_window(tmp_path, db_url, engine):
    settings = make_settings(tmp_path, db_url, cutover={"start": cph(2026, 11, 18, 8, 0), "end": cph(2026, 11, 18, 20, 0)})
    with session_factory(engine)() as session:
        fill(session)
    app = create_app(settings)
    app.config.update(TESTING=True, MONITOR_CLOCK=lambda: NOW.astimezone(dt.UTC))
    html = app.test_client().get("/driftsstatus/serviceplatformen").get_data(as_text=True)
    app.extensions["monitor"].engine.dispose()
    compare = html.split('id="skiftet"')[1].split('id="historik"')[0]
    # Before: 19.10.–17.11., nothing; after: 19.11.–20.11. (today up to noon), 45 min down and 60 partial.
    assert "19.10.2026 – 17.11.2026 (30)" in compare and "19.11.2026 – 20.11.2026 (2)" in compare
    assert "100,00\u00a0%" in compare
    assert f"{(1 - (45 + 0.3 * 60) / (1440 + 720)) * 100:.2f}".replace(".", ",") + "\u00a0%" in compare


def test_metrics_give_the_availability_windows_and_the_error_budget(tmp_path, db_url, engine):
    settings = make_settings(tmp_path, db_url, availability={
        "targets": [{"component": "serviceplatformen", "target": 0.995}]})
    with session_factory(engine)() as session:
        fill(session)
    app = create_app(settings)
    app.extensions["monitor_metrics"] = metrics.registry_for(app.extensions["monitor"].sessions, settings,
                                                            clock=lambda: NOW.astimezone(dt.UTC), cache=cache_of(app))
    s = samples(app.test_client().get("/metrics").get_data(as_text=True))
    app.extensions["monitor"].engine.dispose()
    ratio = s["fki_component_availability_ratio"]
    assert ratio[(("component", "serviceplatformen"), ("window", "1d"))] == pytest.approx(1 - 18 / 720)
    judged = 28 * 1440 + 1500 + 720  # 22.10.–20.11.: 25 October had 25 hours; today up to noon
    achieved = 1 - (75 + 18) / judged
    assert ratio[(("component", "serviceplatformen"), ("window", "30d"))] == pytest.approx(achieved)
    budget = s["fki_component_error_budget_remaining_ratio"]
    assert budget == {(("component", "serviceplatformen"),): pytest.approx(1 - (1 - achieved) / 0.005)}
    errors = s["fki_component_error_ratio"]
    assert errors[(("component", "organisation"),)] == 1 and errors[(("component", "serviceplatformen"),)] == 0

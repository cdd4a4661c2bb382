"""Notices and component status as the API and the metrics read them, on both databases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor import noticeview
from monitor.collectors.notices.poll import SourceSpec
from monitor.models import Notice, NoticeComponent, NoticeSource, NoticeUpdate
from monitor.noticeview import open_notice_counts
from monitor.notify.collect import poll_sources
from monitor.web import api_notices

DANISH = Path(__file__).parent / "fixtures" / "feeds" / "danish-status.rss"
T0 = dt.datetime(2021, 1, 1, 12, 0, tzinfo=dt.UTC)
FIELDS = {"id", "title", "kind", "status", "impact", "components", "url", "started_at", "updated_at",
          "resolved_at", "updates",
          # Beyond the contract: a planned maintenance's window (null for incidents), for /kalender.ics.
          "scheduled_for", "scheduled_until"}


@pytest.fixture
def danish(engine, settings) -> None:  # type: ignore[no-untyped-def]
    assert poll_sources(engine, settings, [SourceSpec("dk", str(DANISH), "feed")], now=T0)[0].ok


def add_notice(session: Session, upstream_id: str, *, kind: str = "incident", status: str = "investigating",
               impact: str | None = None, components: tuple[str, ...] = (), **times: dt.datetime) -> Notice:
    source = session.scalars(select(NoticeSource).where(NoticeSource.name == "json")).one_or_none()
    if source is None:
        source = NoticeSource(name="json", url="https://s.invalid", kind="statuspage", consecutive_failures=0)
        session.add(source)
        session.flush()
    notice = Notice(source_id=source.id, upstream_id=upstream_id, kind=kind, title=upstream_id, status=status,
                    impact=impact, updated_at=T0, **times)
    notice.components = [NoticeComponent(component_slug=c) for c in components]
    notice.updates = [NoticeUpdate(status=status, at=T0, body_html="x")]
    session.add(notice)
    session.commit()
    return notice


def notices_document(session: Session, status: str, component: str | None = None) -> dict[str, Any]:
    """The JSON of GET /api/v1/notices."""
    return api_notices.notices_document(noticeview.notices(session, status, component))


def components_document(session: Session, now: dt.datetime) -> dict[str, Any]:
    """The JSON of GET /api/v1/components."""
    return api_notices.components_document(noticeview.components(session, now))


def statuses(session: Session, now: dt.datetime = T0) -> dict[str, str]:
    return {c.slug: c.status for c in noticeview.components(session, now)}


def test_open_notices_carry_exactly_the_contract_fields(danish, session) -> None:
    doc = notices_document(session, "open")
    assert [n["title"] for n in doc["notices"]] == ["Fejl i CPR-opslag", "Planlagt vedligeholdelse af Organisation"]
    cpr = doc["notices"][0]
    assert set(cpr) == FIELDS
    assert cpr["kind"] == "incident" and cpr["status"] == "monitoring" and cpr["impact"] is None
    assert cpr["components"] == ["serviceplatformen"]
    assert cpr["url"] == "https://driftstatus.example.invalid/incidents/cpr-nytaar"
    assert cpr["started_at"] == "2020-12-31T22:45:00+00:00" and cpr["resolved_at"] is None
    assert cpr["updates"] == [
        {"status": "monitoring", "body_html": "Rettelsen er lagt på, og vi overvåger svartiderne.",
         "at": "2021-01-01T00:30:00+00:00"},
        {"status": "investigating", "body_html": "Opslag på SF1520 fejler for nogle kommuner.",
         "at": "2020-12-31T22:45:00+00:00"}]


def test_all_notices_include_the_resolved_ones_and_filter_by_component(danish, session) -> None:
    assert len(notices_document(session, "all")["notices"]) == 3
    only = notices_document(session, "all", "beskedfordeler")["notices"]
    assert [n["title"] for n in only] == ["Beskeder leveres forsinket"]
    assert only[0]["resolved_at"] == "2020-11-24T09:40:00+00:00"
    assert notices_document(session, "open", "beskedfordeler") == {"notices": []}


def test_a_notice_naming_no_component_is_listed_under_every_component(danish, session) -> None:
    add_notice(session, "everything")
    assert [n["title"] for n in notices_document(session, "open", "ydelsesindeks")["notices"]] == ["everything"]


def test_component_status_comes_from_open_feed_notices(danish, session) -> None:
    got = statuses(session)
    assert got["serviceplatformen"] == "degraded_performance"
    assert got["organisation"] == got["klassifikation"] == "under_maintenance"
    assert got["beskedfordeler"] == "operational"
    assert [c["slug"] for c in components_document(session, T0)["components"]][0] == "serviceplatformen"


@pytest.mark.parametrize(("impact", "expected"), [
    ("critical", "major_outage"), ("major", "partial_outage"), ("minor", "degraded_performance"),
    ("none", "operational"), (None, "degraded_performance")])
def test_an_open_incident_counts_by_its_impact(session, impact, expected) -> None:
    add_notice(session, "i", impact=impact, components=("beskedfordeler",))
    assert statuses(session)["beskedfordeler"] == expected


def test_the_worst_open_notice_wins_and_outranks_maintenance(session) -> None:
    add_notice(session, "m", kind="maintenance", status="in_progress", components=("organisation",))
    add_notice(session, "minor", impact="minor", components=("organisation",))
    add_notice(session, "critical", impact="critical", components=("organisation",))
    add_notice(session, "closed", status="resolved", impact="critical", components=("klassifikation",))
    got = statuses(session)
    assert got["organisation"] == "major_outage" and got["klassifikation"] == "operational"


def test_a_scheduled_maintenance_counts_only_while_its_window_runs(session) -> None:
    add_notice(session, "window", kind="maintenance", status="scheduled", components=("ydelsesindeks",),
               scheduled_for=T0, scheduled_until=T0 + dt.timedelta(hours=2))
    assert statuses(session, T0 - dt.timedelta(minutes=1))["ydelsesindeks"] == "operational"
    assert statuses(session, T0 + dt.timedelta(hours=1))["ydelsesindeks"] == "under_maintenance"
    assert statuses(session, T0 + dt.timedelta(hours=2))["ydelsesindeks"] == "operational"


def test_open_notice_counts_per_component_and_kind_with_zeros_and_all(danish, session) -> None:
    add_notice(session, "everything")
    counts = open_notice_counts(session)
    assert counts[("serviceplatformen", "incident")] == 1
    assert counts[("organisation", "maintenance")] == counts[("klassifikation", "maintenance")] == 1
    assert counts[("beskedfordeler", "incident")] == 0
    assert counts[("all", "incident")] == 1 and counts[("all", "maintenance")] == 0
    assert len(counts) == (9 + 1) * 2


def test_the_api_serves_notices_and_components(danish, client) -> None:
    response = client.get("/api/v1/notices")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert len(response.get_json()["notices"]) == 2
    assert len(client.get("/api/v1/notices?status=all&component=beskedfordeler").get_json()["notices"]) == 1
    components = client.get("/api/v1/components").get_json()["components"]
    assert {c["slug"]: c["status"] for c in components}["organisation"] == "under_maintenance"
    assert set(components[0]) == {"slug", "name", "status"}


@pytest.mark.parametrize(("query", "message"), [("status=closed", "status"), ("component=nope", "unknown component")])
def test_the_api_rejects_bad_parameters_with_a_message(client, query, message) -> None:
    response = client.get(f"/api/v1/notices?{query}")
    assert response.status_code == 400 and message in response.get_json()["error"]

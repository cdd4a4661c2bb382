"""Upstream data is cleaned at the door: control characters, impossible times, items the database refuses."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import icalendar
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.collectors.notices import poll as collector
from monitor.collectors.notices.poll import SourceSpec
from monitor.collectors.notices.upstream import clean_text
from monitor.models import Notice, NoticeComponent, NoticeSource, NoticeUpdate
from monitor.notify.collect import poll_sources

T0 = dt.datetime(2021, 1, 1, 12, 0, tzinfo=dt.UTC)
CONTROLS = "\x00\x07\x08\x0b\x0c\x0d\x1b\x7f\x85\x9b"


def incident(upstream_id: str, name: str, *, body: str = "Vi undersøger.", scheduled_for: str | None = None,
             component: str = "Beskedfordeler", link: str = "https://status.example.dk/incidents/x") -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": upstream_id, "name": name, "status": "investigating", "impact": "minor", "shortlink": link,
        "created_at": "2020-12-31T10:00:00Z", "components": [{"name": component}],
        "incident_updates": [{"id": f"{upstream_id}-u1", "status": "investigating", "body": body,
                              "created_at": "2020-12-31T10:00:00Z"}]}
    if scheduled_for is not None:
        item.update(status="scheduled", scheduled_for=scheduled_for, scheduled_until="2021-01-02T00:00:00Z")
    return item


def write_summary(tmp_path: Path, items: list[dict[str, Any]]) -> SourceSpec:
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"incidents": items}), "utf-8")
    return SourceSpec("status", str(path), "statuspage")


def stored_texts(session: Session) -> list[str]:
    session.expire_all()
    notices = session.scalars(select(Notice)).all()
    return [*(n.title for n in notices), *(n.upstream_id for n in notices), *(n.url or "" for n in notices),
            *(u.body_html for u in session.scalars(select(NoticeUpdate)))]


@pytest.mark.parametrize("text, cleaned", [
    ("Beskeder\x1b[31m forsinket\x07", "Beskeder[31m forsinket"),
    ("a\x00b\x7fc\x85d\x9be", "abcde"),
    ("linje 1\r\nlinje 2\tmed tab", "linje 1\nlinje 2\tmed tab"),
    ("æøå – ✓ \U0001f600", "æøå – ✓ \U0001f600"),
    ("lone \ud800 surrogate", "lone \ufffd surrogate"),
    ("non\ufffecharacter\uffff", "noncharacter"),
])
def test_clean_text_keeps_tab_newline_and_every_printable_character(text: str, cleaned: str) -> None:
    assert clean_text(text) == cleaned


def test_control_characters_in_a_statuspage_item_never_reach_the_store_or_the_pages(
        engine, settings, session, client, tmp_path) -> None:
    spec = write_summary(tmp_path, [incident(f"inc{CONTROLS}1", f"Beskeder{CONTROLS} forsinket",
                                             body=f"Vi{CONTROLS} undersøger.", component=f"Beskedfordeler{CONTROLS}")])
    outcome = poll_sources(engine, settings, [spec], now=T0)[0]
    assert outcome.ok, outcome.lines()
    texts = stored_texts(session)
    assert texts and not any(ch in text for text in texts for ch in CONTROLS)
    notice = session.scalars(select(Notice)).one()
    assert notice.title == "Beskeder forsinket" and notice.upstream_id == "inc1"
    assert [c.component_slug for c in notice.components] == ["beskedfordeler"]  # the cleaned name matches
    atom = client.get("/notices.atom")
    assert atom.status_code == 200
    ET.fromstring(atom.data)  # well-formed XML, read from the raw bytes
    for path in ("/", "/driftsstatus", "/api/v1/notices?status=all"):
        assert client.get(path).status_code == 200, path


def test_an_escape_and_a_bell_in_a_feed_title_do_not_reach_the_atom_feed_or_the_calendar(
        engine, settings, session, client, tmp_path) -> None:
    feed = tmp_path / "status.rss"
    title = "Planlagt\x1b vedligehold\x07 af Beskedfordeler"
    feed.write_bytes(f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Status</title><link>https://status.example.dk</link><description>x</description>
<item><title>{title}</title><guid>https://status.example.dk/incidents/m1</guid>
<pubDate>Thu, 31 Dec 2020 10:00:00 +0000</pubDate><link>https://status.example.dk/incidents/m1</link>
<description>&lt;p&gt;&lt;strong&gt;THIS IS A SCHEDULED EVENT Jan 2, 13:00 - 15:00 UTC&lt;/strong&gt;&lt;/p&gt;
&lt;p&gt;&lt;small&gt;Dec 31, 10:00 UTC&lt;/small&gt;&lt;br&gt;&lt;strong&gt;Scheduled&lt;/strong&gt; - Vi\x1b opdaterer.&lt;/p&gt;</description>
</item></channel></rss>""".encode())
    poll_sources(engine, settings, [SourceSpec("feed", str(feed), "feed")], now=T0)
    notice = session.scalars(select(Notice)).one()
    assert notice.title == "Planlagt vedligehold af Beskedfordeler"
    ET.fromstring(client.get("/notices.atom").data)
    ics = client.get("/kalender.ics").data
    summaries = [str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(ics).walk("VEVENT")]
    assert any("Planlagt vedligehold af Beskedfordeler" in s for s in summaries)
    for line in ics.split(b"\r\n"):
        assert not any(b < 0x20 and b != 0x09 for b in line), line


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59Z", "9999-12-31T23:59:59-14:00", "1969-12-31T23:59:59Z",
                                  "2101-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00"])
def test_an_item_with_a_time_outside_1970_to_2100_is_refused_with_a_report_and_the_rest_stored(
        engine, settings, session, client, tmp_path, when) -> None:
    spec = write_summary(tmp_path, [incident("far", "Vedligehold om længe", scheduled_for=when),
                                    incident("near", "Beskeder forsinket")])
    outcome = poll_sources(engine, settings, [spec], now=T0)[0]
    assert not outcome.ok and outcome.state == "partly"
    assert any(p.startswith("far: ") and "1970–2100" in p for p in outcome.problems), outcome.problems
    session.expire_all()
    assert list(session.scalars(select(Notice.upstream_id))) == ["near"]
    assert "far:" in (session.scalars(select(NoticeSource.last_error)).one() or "")  # the operator's run summary
    assert client.get("/driftsstatus").status_code == 200


def test_a_time_stored_before_the_door_was_closed_does_not_break_the_pages(engine, settings, session, client) -> None:
    source = NoticeSource(name="old", url="https://status.example.dk", kind="statuspage", consecutive_failures=0)
    session.add(source)
    session.flush()
    far = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    session.add(Notice(source_id=source.id, upstream_id="far", first_seen_at=T0, backfilled=True,
                       kind="maintenance", title="Vedligehold om længe", status="scheduled",
                       started_at=T0, updated_at=T0, scheduled_for=far, scheduled_until=far,
                       components=[NoticeComponent(component_slug="beskedfordeler")]))
    session.commit()
    for path in ("/driftsstatus", "/driftsstatus?lang=en", "/", "/api/v1/notices", "/notices.atom", "/kalender.ics"):
        assert client.get(path).status_code == 200, path


def test_an_item_the_database_refuses_is_reported_and_the_others_are_stored(
        engine, settings, session, tmp_path, monkeypatch) -> None:
    # Without the door, a NUL reaches the database: PostgreSQL refuses it, SQLite takes it.
    monkeypatch.setattr(collector, "admit", lambda result: None)
    spec = write_summary(tmp_path, [incident("one", "Første"), incident("nul", "Med \x00 NUL"),
                                    incident("three", "Tredje")])
    outcome = poll_sources(engine, settings, [spec], now=T0)[0]
    session.expire_all()
    stored = set(session.scalars(select(Notice.upstream_id)))
    assert {"one", "three"} <= stored
    if engine.dialect.name == "postgresql":
        assert stored == {"one", "three"}
        assert outcome.state == "partly" and any(p.startswith("nul: the database refused it") for p in outcome.problems)
    else:
        assert stored == {"one", "nul", "three"} and outcome.ok

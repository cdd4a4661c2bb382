"""Availability per update where the source says: a Statuspage update's component status holds from
that update until the next update that lists the component, or the notice's end; what the source
does not say is not counted as available; a source without per-update states counts as before."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from monitor import availability as av
from monitor.availability import COMPONENT_STATE, RANK, Span, Timeline, component_spans, notice_span
from monitor.collectors.notices import statuspage, store
from monitor.collectors.notices.poll import SourceSpec
from monitor.db import session_factory
from monitor.migrate import sync_components
from monitor.models import Notice, NoticeSource, NoticeUpdate
from monitor.notify.collect import poll_sources
from tests.conftest import make_settings

DISCORD = Path(__file__).parent / "fixtures" / "feeds" / "discordstatus"
T = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
COMPONENTS = [{"slug": "api", "name": "API", "supplier": "Discord"},
              {"slug": "gateway", "name": "Gateway", "supplier": "Discord"}]


def at(minutes: float) -> dt.datetime:
    return T + dt.timedelta(minutes=minutes)


def incident(end: float | None, impact: str | None = "critical", components: tuple[str, ...] = ("api",),
             states: tuple[tuple[float, tuple[tuple[str, str], ...]], ...] = ()) -> Timeline:
    updates = (("investigating", at(0)),) + ((("resolved", at(end)),) if end is not None else ())
    return Timeline("incident", "resolved" if end is not None else "investigating", impact, started_at=at(0),
                    resolved_at=at(end) if end is not None else None, updates=updates, components=components,
                    states=tuple((at(m), s) for m, s in states))


def minutes_in(spans: list[Span]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in spans:
        out[s.state] = out.get(s.state, 0) + s.minutes
    return out


# --- the rule, by hand ---------------------------------------------------------------------------------

def test_a_component_counts_from_the_update_that_lists_it_until_the_one_that_lists_it_operational():
    notice = incident(60, states=((0, (("api", "major_outage"),)), (20, (("api", "operational"),))))
    assert component_spans(notice, "api", at(120)) == [Span(at(0), at(20), "major")]
    assert notice_span(notice, at(120)) == Span(at(0), at(60), "major")  # the notice as a whole


def test_each_status_holds_until_the_next_update_that_lists_the_component_or_the_notice_ends():
    notice = incident(90, impact="minor", states=((0, (("api", "degraded_performance"),)),
                                                  (10, (("api", "partial_outage"),)),
                                                  (30, (("gateway", "major_outage"),)),  # another component
                                                  (40, (("api", "major_outage"),))),
                      components=("api", "gateway"))
    assert component_spans(notice, "api", at(120)) == [
        Span(at(0), at(10), "degraded"), Span(at(10), at(40), "partial"), Span(at(40), at(90), "major")]
    assert component_spans(notice, "gateway", at(120)) == [Span(at(0), at(30), "degraded"),
                                                           Span(at(30), at(90), "major")]


def test_what_the_source_does_not_say_is_counted_as_the_notice_says_not_as_available():
    # Listed only from minute 15: the first quarter of an hour counts in the notice's state.
    late = incident(60, impact="major", states=((15, (("api", "operational"),)),))
    assert component_spans(late, "api", at(120)) == [Span(at(0), at(15), "partial")]
    # A status word nobody defined: the notice's state holds over its stretch.
    odd = incident(60, states=((0, (("api", "major_outage"),)), (10, (("api", "on_fire"),)),
                               (20, (("api", "operational"),))))
    assert component_spans(odd, "api", at(120)) == [Span(at(0), at(20), "major")]
    # A component of the notice that no update lists: the notice's whole run.
    other = incident(60, components=("api", "gateway"), states=((0, (("api", "operational"),)),))
    assert component_spans(other, "gateway", at(120)) == [Span(at(0), at(60), "major")]
    assert component_spans(other, "api", at(120)) == []


def test_an_open_notice_counts_a_listed_status_up_to_now_and_an_impact_of_none_still_counts_what_is_listed():
    open_ = incident(None, impact="none", states=((5, (("api", "partial_outage"),)),))
    assert notice_span(open_, at(30)) is None  # impact none: the notice itself makes nothing unavailable
    assert component_spans(open_, "api", at(30)) == [Span(at(5), at(30), "partial")]


def test_a_maintenance_counts_under_maintenance_as_maintenance_and_an_outage_in_it_as_the_outage():
    notice = Timeline("maintenance", "completed", None, scheduled_for=at(0), scheduled_until=at(60),
                      updates=(("in_progress", at(0)), ("completed", at(50))), components=("api",),
                      states=((at(0), (("api", "under_maintenance"),)), (at(20), (("api", "major_outage"),)),
                              (at(30), (("api", "under_maintenance"),)), (at(50), (("api", "operational"),))))
    assert component_spans(notice, "api", at(120)) == [
        Span(at(0), at(20), "maintenance"), Span(at(20), at(30), "major"), Span(at(30), at(50), "maintenance")]


def test_a_notice_without_states_per_update_counts_as_before_for_every_component():
    notice = incident(60, components=())
    settings = make_settings(Path("."), "sqlite://", components=COMPONENTS)
    for record in av.records([notice], settings, at(24 * 60), 2):
        assert sum(d.major for d in record.days) == 60, record.slug


# --- the recorded Statuspage document ----------------------------------------------------------------

def discord_incident() -> Timeline:
    documents = {n: (DISCORD / f"{n}.json").read_bytes() for n in ("incidents", "scheduled-maintenances", "components")}
    parsed = next(n for n in statuspage.parse_documents(documents).notices if n.upstream_id == "n4njzfn1mqy0")
    slug = {"API": "api"}
    return Timeline(parsed.kind, parsed.status, parsed.impact, started_at=parsed.started_at,
                    resolved_at=parsed.resolved_at, updates=tuple((u.status, u.at) for u in parsed.updates),
                    components=("api",),
                    states=tuple((u.at, tuple((slug[n], s) for n, s in u.components or ())) for u in parsed.updates
                                 if u.components is not None))


def test_discords_messaging_incident_counts_the_api_degraded_for_7_minutes_not_the_incidents_23():
    notice = discord_incident()
    now = dt.datetime(2022, 2, 16, 12, 0, tzinfo=dt.UTC)
    assert notice_span(notice, now) == Span(dt.datetime(2022, 2, 15, 21, 14, tzinfo=dt.UTC),
                                            dt.datetime(2022, 2, 15, 21, 37, tzinfo=dt.UTC), "degraded")
    assert component_spans(notice, "api", now) == [Span(dt.datetime(2022, 2, 15, 21, 14, tzinfo=dt.UTC),
                                                        dt.datetime(2022, 2, 15, 21, 21, tzinfo=dt.UTC), "degraded")]


def test_a_polled_statuspage_source_stores_each_updates_component_states_and_availability_reads_them(
        engine, db_url, tmp_path):
    settings = make_settings(tmp_path, db_url, components=COMPONENTS)
    factory = session_factory(engine)
    with factory() as session, session.begin():
        sync_components(session, settings)
    now = dt.datetime(2022, 2, 16, 12, 0, tzinfo=dt.UTC)
    spec = SourceSpec("discord", str(DISCORD), "statuspage")
    assert poll_sources(engine, settings, [spec], now=now)[0].ok
    with factory() as session:
        notice = session.scalars(select(Notice).where(Notice.upstream_id == "n4njzfn1mqy0")).one()
        states = sorted((u.at, u.status, u.component_states) for u in notice.updates)
        assert [s for _, _, s in states] == [{"api": "degraded_performance"}, {"api": "degraded_performance"},
                                             {"api": "operational"}, {"api": "operational"}]
        maintenance = session.scalars(select(Notice).where(Notice.upstream_id == "chkt3cr0jf7b")).one()
        assert {u.component_states for u in maintenance.updates} == {None}  # none given per update
        days = {r.slug: r for r in av.component_records(session, settings, now, 2)}
    assert [d.degraded for d in days["api"].days] == [7, 0]  # 22:14–22:21 in Copenhagen on 15 February
    assert [d.degraded for d in days["gateway"].days] == [0, 0]

    # An update stored before its states were kept gets them at the next poll, and nobody is told.
    with factory() as session, session.begin():
        for update in session.scalars(select(NoticeUpdate)):
            update.component_states = None
    documents = {n: (DISCORD / f"{n}.json").read_bytes() for n in ("incidents", "scheduled-maintenances", "components")}
    parsed = statuspage.parse_documents(documents).notices
    with factory() as session, session.begin():
        source = session.scalars(select(NoticeSource).where(NoticeSource.name == "discord")).one()
        counts = store.store_notices(session, source, parsed, backfill=False, defaults=(), now=now,
                                     queue=lambda s, u: pytest.fail("nobody is told"))
    assert (counts.new_updates, counts.edited_updates, counts.queued) == (0, 0, 0)
    with factory() as session:
        days = {r.slug: r for r in av.component_records(session, settings, now, 2)}
    assert [d.degraded for d in days["api"].days] == [7, 0]


# --- the interval maths, for any listings ---------------------------------------------------------------

STATUSES = [*COMPONENT_STATE, "unknown_word"]


def expected_minutes(notice: Timeline, slug: str, now: dt.datetime) -> dict[dt.datetime, str]:
    """Minute by minute: the status of the last update listing `slug` at or before it, else the notice's."""
    window = av.notice_window(notice, now)
    if window is None:
        return {}
    state, start, end = window
    listed = sorted(((av.minute(a), s) for a, states in notice.states for c, s in states if c == slug),
                    key=lambda p: p[0])
    out = {}
    m = start
    while m < end:
        current = [s for a, s in listed if a <= m]
        here = COMPONENT_STATE.get(current[-1], state) if current else state
        if here is not None:
            out[m] = here
        m += dt.timedelta(minutes=1)
    return out


@st.composite
def notices_with_listings(draw: st.DrawFn) -> Timeline:
    end = draw(st.none() | st.integers(1, 300))
    listings = draw(st.lists(st.tuples(st.integers(-30, 330), st.sampled_from(["api", "gateway"]),
                                       st.sampled_from(STATUSES)), max_size=8))
    impact = draw(st.sampled_from(["critical", "major", "minor", "none", None]))
    return incident(end, impact=impact, components=("api", "gateway"),
                    states=tuple((m, ((c, s),)) for m, c, s in listings))


@given(notices_with_listings(), st.integers(0, 400))
def test_each_minute_counts_in_the_status_last_listed_before_it_else_as_the_notice_says(notice, now_minutes):
    now = at(now_minutes)
    for slug in ("api", "gateway"):
        spans = component_spans(notice, slug, now)
        for a, b in zip(spans, spans[1:], strict=False):
            assert a.end <= b.start and not (a.end == b.start and a.state == b.state)  # disjoint, merged
        window = av.notice_window(notice, now)
        assert all(window is not None and window[1] <= s.start < s.end <= window[2] for s in spans)
        got = {s.start + dt.timedelta(minutes=i): s.state for s in spans for i in range(s.minutes)}
        assert got == expected_minutes(notice, slug, now)


@given(notices_with_listings(), st.integers(0, 400))
def test_no_listing_makes_a_component_worse_than_its_worst_listed_status_or_the_notices_state(notice, now_minutes):
    now = at(now_minutes)
    whole = notice_span(notice, now)
    for slug in ("api", "gateway"):
        allowed = {COMPONENT_STATE.get(s) for _, states in notice.states for c, s in states if c == slug}
        allowed.add(whole.state if whole else None)
        worst = max((RANK[s] for s in allowed if s is not None), default=-1)
        assert all(RANK[s.state] <= worst for s in component_spans(notice, slug, now))


@pytest.mark.parametrize("listing", ["major_outage", "partial_outage", "degraded_performance"])
def test_listing_the_impacts_own_state_from_the_start_to_the_end_counts_as_the_whole_notice(listing):
    impact = {"major_outage": "critical", "partial_outage": "major", "degraded_performance": "minor"}[listing]
    notice = incident(45, impact=impact, states=((0, (("api", listing),)),))
    assert component_spans(notice, "api", at(60)) == [notice_span(notice, at(60))]
    assert minutes_in(component_spans(notice, "api", at(60))) == {COMPONENT_STATE[listing]: 45}


# --- the pages ---------------------------------------------------------------------------------------------

def test_the_component_page_counts_and_lists_a_notice_whose_updates_list_the_component_down(app, engine):
    from monitor.localtime import CPH
    from monitor.models import NoticeComponent

    day = dt.datetime(2026, 11, 19, 10, 0, tzinfo=CPH)
    with session_factory(engine)() as session, session.begin():
        source = NoticeSource(name="driftstatus", url="https://status.example", kind="statuspage")
        session.add(source)
        session.flush()
        # Impact none: the notice as a whole counts nothing, but an update lists the component down for 30 minutes.
        notice = Notice(source_id=source.id, upstream_id="x", kind="incident", title="Kald afvises kortvarigt",
                        status="resolved", impact="none", started_at=day, updated_at=day + dt.timedelta(hours=1),
                        resolved_at=day + dt.timedelta(hours=1))
        session.add(notice)
        session.flush()
        session.add(NoticeComponent(notice_id=notice.id, component_slug="serviceplatformen"))
        for minutes, status, state in ((0, "investigating", "major_outage"), (30, "monitoring", "operational"),
                                       (60, "resolved", "operational")):
            session.add(NoticeUpdate(notice_id=notice.id, status=status, at=day + dt.timedelta(minutes=minutes),
                                     body_html="<p>…</p>", component_states={"serviceplatformen": state}))
    app.config["MONITOR_CLOCK"] = lambda: dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    client = app.test_client()
    html = client.get("/driftsstatus/serviceplatformen?dag=2026-11-19").get_data(as_text=True)
    assert "Kald afvises kortvarigt" in html.split('id="dag"')[1].split('id="maaneder"')[0]
    document = client.get("/api/v1/components/serviceplatformen/availability?days=2").get_json()
    assert [d["major_minutes"] for d in document["days"]] == [30, 0], document["days"]

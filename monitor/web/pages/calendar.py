"""GET /kalender.ics: the cut-over window, the frozen zone and every planned maintenance.

UIDs are stable: the window and the frozen zone have fixed ones, a maintenance one made from
its source and upstream id. The times last published per UID are kept in `calendar_events`;
when they change, SEQUENCE goes up by one (RFC 5545 3.8.7.4), so calendar programs replace
the event instead of keeping both.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterable

from flask import Response, abort, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ... import ical
from ...cutover import window_for
from ...models import CalendarEvent, Component, Notice, NoticeComponent
from ..auth import now as clock_now
from ..state import db_session, state
from .blueprint import bp

DOMAIN = "infrastrukturmonitor"


def maintenance_uid(source_id: int, upstream_id: str) -> str:
    """The UID of a maintenance: the same for the same upstream notice whatever its times."""
    digest = hashlib.sha256(f"{source_id}\0{upstream_id}".encode()).hexdigest()[:24]
    return f"vedligehold-{digest}@{DOMAIN}"


def sequenced(session: Session, events: Iterable[ical.Event], now: dt.datetime) -> list[ical.Event]:
    """`events` with their SEQUENCE: 0 when first published, one more each time its times change."""
    events = list(events)
    known = {row.uid: row for row in session.scalars(
        select(CalendarEvent).where(CalendarEvent.uid.in_([e.uid for e in events])))} if events else {}
    out = []
    for e in events:
        row = known.get(e.uid)
        if row is None:
            row = CalendarEvent(uid=e.uid, starts_at=e.start, ends_at=e.end, sequence=0, changed_at=now)
            session.add(row)
        elif (row.starts_at, row.ends_at) != (e.start, e.end):
            row.starts_at, row.ends_at, row.sequence, row.changed_at = e.start, e.end, row.sequence + 1, now
        out.append(dataclasses.replace(e, sequence=row.sequence))
    return out


def _maintenance(session: Session, slug: str | None, names: dict[str, str]) -> list[ical.Event]:
    query = select(Notice).where(Notice.kind == "maintenance", Notice.scheduled_for.is_not(None))
    if slug is not None:
        named = select(NoticeComponent.notice_id).where(NoticeComponent.component_slug == slug)
        any_named = select(NoticeComponent.notice_id)
        query = query.where(Notice.id.in_(named) | Notice.id.not_in(any_named))
    events = []
    for n in session.scalars(query.order_by(Notice.scheduled_for, Notice.id)):
        components = sorted(names.get(c.component_slug, c.component_slug) for c in n.components)
        concerns = ", ".join(components) if components else _("Hele infrastrukturen")
        url = n.url if n.url and n.url.startswith(("https://", "http://")) else None
        # "Planlagt vedligeholdelse: Planlagt vedligeholdelse af …" says it twice: a title that
        # already names maintenance stands alone.
        said = any(word in n.title.lower() for word in ("vedligehold", "maintenance"))
        summary = n.title if said else _("Planlagt vedligeholdelse: %(title)s", title=n.title)
        events.append(ical.Event(
            uid=maintenance_uid(n.source_id, n.upstream_id), summary=summary,
            start=n.scheduled_for, end=n.scheduled_until,  # type: ignore[arg-type]
            description=_("Berører: %(components)s.", components=concerns), url=url,
            categories=(_("Vedligehold"),)))
    return events


def _cutover(session: Session) -> list[ical.Event]:
    window = window_for(session, state().settings)
    events = []
    if window.start is not None:
        events.append(ical.Event(
            uid=f"skiftevindue@{DOMAIN}", summary=_("Skift af driftscenter: skiftevinduet"),
            start=window.start, end=window.end,
            description=_("Serviceplatformen flytter driftscenter. Kald kan fejle i vinduet."),
            categories=(_("Skift af driftscenter"),)))
    if window.frozen_zone_start is not None:
        end = window.end or window.start
        events.append(ical.Event(
            uid=f"frysezone@{DOMAIN}", summary=_("Skift af driftscenter: frysezone"),
            start=window.frozen_zone_start, end=end,
            description=_("Ingen nye eller ændrede serviceaftaler fra frysezonens start til skiftet er slut."),
            categories=(_("Skift af driftscenter"),), transparent=True))
    return events


@bp.get("/kalender.ics")
def calendar() -> ResponseReturnValue:
    """The calendar of the cut-over and of planned maintenance, optionally for one component."""
    session = db_session()
    names = dict(session.execute(select(Component.slug, Component.name)).all())
    slug = request.args.get("component") or None
    if slug is not None and slug not in names:
        abort(404)
    now = clock_now()
    planned = [*_cutover(session), *_maintenance(session, slug, names)]
    try:
        events = sequenced(session, planned, now)
        session.commit()
    except IntegrityError:  # another worker published the same new event a moment ago
        session.rollback()
        events = sequenced(session, planned, now)
        session.commit()
    title = _("Infrastrukturmonitor: skift og vedligehold")
    if slug is not None:
        title += f" – {names[slug]}"
    body = ical.calendar(events, now, title)
    response = Response(body, content_type="text/calendar; charset=utf-8")
    response.headers["Content-Disposition"] = 'inline; filename="kalender.ics"'
    return response

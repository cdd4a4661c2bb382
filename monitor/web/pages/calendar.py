"""GET /kalender.ics: the cut-over window, the frozen zone and every planned maintenance.

Which events there are, their UIDs and their SEQUENCE are the domain's (monitor/calendarplan.py);
this page gives them their words and only reads: nothing is written on a GET.
"""

from __future__ import annotations

import datetime as dt

from flask import Response, abort, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from ... import calendarplan, ical
from ...calendarplan import FROZEN_ZONE_UID, WINDOW_UID, Plan, maintenance_uid
from ...models import Component, Notice
from ..auth import now as clock_now
from ..state import db_session, state
from .blueprint import bp

# Titles that already say what the event is stand alone: "Planlagt vedligeholdelse: Planlagt
# vedligeholdelse af …" or "Planlagt vedligeholdelse: Planlagt opdatering af …" says it twice.
_SAYS_PLANNED = ("vedligehold", "maintenance", "planlagt", "planned", "scheduled")


def _url(notice: Notice) -> str | None:
    return notice.url if notice.url and notice.url.startswith(("https://", "http://")) else None


def _maintenance(n: Notice, names: dict[str, str], sequence: int) -> ical.Event:
    components = sorted(names.get(c.component_slug, c.component_slug) for c in n.components)
    concerns = ", ".join(components) if components else _("Hele infrastrukturen")
    said = any(word in n.title.lower() for word in _SAYS_PLANNED)
    summary = n.title if said else _("Planlagt vedligeholdelse: %(title)s", title=n.title)
    return ical.Event(
        uid=maintenance_uid(n.source_id, n.upstream_id), summary=summary,
        start=n.scheduled_for, end=n.scheduled_until,  # type: ignore[arg-type]
        description=_("Berører: %(components)s.", components=concerns), url=_url(n),
        categories=(_("Vedligeholdelse"),), sequence=sequence)


def _cutover(plan: Plan, sequences: dict[str, int]) -> list[ical.Event]:
    window = plan.window
    events = []
    if window.start is not None:
        description = _("Serviceplatformen flytter driftscenter. Kald kan fejle i vinduet.")
        if plan.window_notice is not None:
            description += "\n" + _("Driftsmeddelelse: %(title)s", title=plan.window_notice.title)
        events.append(ical.Event(
            uid=WINDOW_UID, summary=_("Skift af driftscenter: skiftevinduet"),
            start=window.start, end=window.end, description=description,
            url=_url(plan.window_notice) if plan.window_notice is not None else None,
            categories=(_("Skift af driftscenter"),), sequence=sequences[WINDOW_UID]))
    if window.frozen_zone_start is not None:
        events.append(ical.Event(
            uid=FROZEN_ZONE_UID, summary=_("Skift af driftscenter: frysezone"),
            start=window.frozen_zone_start, end=window.end or window.start,
            description=_("Ingen nye eller ændrede serviceaftaler fra frysezonens start til skiftet er slut."),
            categories=(_("Skift af driftscenter"),), transparent=True, sequence=sequences[FROZEN_ZONE_UID]))
    return events


@bp.get("/kalender.ics")
def calendar() -> ResponseReturnValue:
    """The calendar of the cut-over and of planned maintenance, optionally for one component."""
    session = db_session()
    names = dict(session.execute(select(Component.slug, Component.name)).all())
    slug = request.args.get("component") or None
    if slug is not None and slug not in names:
        abort(404)
    now: dt.datetime = clock_now()
    plan = calendarplan.plan(session, state().settings, slug)
    sequences = calendarplan.sequences(session, plan.times())
    events = [*_cutover(plan, sequences),
              *(_maintenance(n, names, sequences[maintenance_uid(n.source_id, n.upstream_id)])
                for n in plan.maintenance)]
    title = _("Infrastrukturmonitor: skift og vedligeholdelse")
    if slug is not None:
        title += f" – {names[slug]}"
    body = ical.calendar(events, now, title)
    response = Response(body, content_type="text/calendar; charset=utf-8")
    response.headers["Content-Disposition"] = 'inline; filename="kalender.ics"'
    return response

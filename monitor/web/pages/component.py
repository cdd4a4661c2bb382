"""Availability on the pages: the 90 daily bars of /driftsstatus and a page per component, /driftsstatus/SLUG.

The records come from `monitor.availability`, cached per notice fingerprint and minute (an
open incident grows by the clock). /driftsstatus includes the bars as a partial
(pages/_availability_bars.html), which reads them through the `availability_overview` global.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ... import availability as av
from ... import doccache
from ...cutover import window_for
from ...noticeview import NoticeView, list_notices, notice_view
from ..auth import now as clock_now
from ..state import db_session, state
from .blueprint import bp, page_key
from .cache import cache
from .documents import components, versions
from .status import last_poll

BAR_DAYS = 90
MONTHS = 12
COMPARE_DAYS = 30
# The days a component page reads: a year for its months, more when the cut-over lies further back.
LONGEST_HISTORY = 3660


def cached_records(session: Session, now: dt.datetime, days: int) -> list[av.ComponentRecord]:
    """Every component's last `days` days, cached per notice fingerprint and minute."""
    return doccache.component_records(cache(), session, state().settings, now, days, versions(session, now)["notices"])


def bar_row(record: av.ComponentRecord, weight: float, days: int = BAR_DAYS) -> dict[str, Any]:
    """One component's row of daily bars with its 30- and 90-day availability."""
    shown = record.last(days)
    return {"slug": record.slug, "name": record.name, "supplier": record.supplier,
            "days": [{"figures": d, "availability": d.availability(weight), "state": d.worst or "ok"} for d in shown],
            "a30": av.availability(record.last(30), weight), "a90": av.availability(record.last(90), weight)}


def suppliers(records: list[av.ComponentRecord], weight: float) -> list[dict[str, Any]]:
    """Each named supplier over the components it runs: 30- and 90-day availability."""
    names = sorted({r.supplier for r in records if r.supplier})
    out = []
    for name in names:
        own = [r for r in records if r.supplier == name]
        days = av.combine(own)
        out.append({"name": name, "components": [r.name for r in own],
                    "a30": av.availability(days[-30:], weight), "a90": av.availability(days[-90:], weight)})
    return out


@bp.app_template_global()
def availability_overview() -> dict[str, Any]:
    """What the bars on /driftsstatus show: a row per component, the suppliers and the weight."""
    session = db_session()
    now = clock_now()
    weight = state().settings.availability.partial_weight
    records = cached_records(session, now, BAR_DAYS)
    return {"rows": [bar_row(r, weight) for r in records], "suppliers": suppliers(records, weight),
            "weight": weight, "days": BAR_DAYS}


def _day_arg(value: str | None, today: dt.date) -> dt.date | None:
    """?dag=YYYY-MM-DD: a day up to today; ValueError for anything else."""
    if value is None:
        return None
    if len(value) != 10:
        raise ValueError(value)
    day = dt.date.fromisoformat(value)
    if not dt.date(2000, 1, 1) <= day <= today:
        raise ValueError(value)
    return day


def _day_notices(session: Session, slug: str, day: dt.date, now: dt.datetime) -> list[NoticeView]:
    """The notices concerning the component that ran on `day` (Copenhagen), oldest first."""
    start, end = av.day_bounds(day)
    found = []
    for notice in list_notices(session, "all", slug):
        timeline = av.timeline(notice)
        # The notice's run, and where its updates list the component, what they list (an impact
        # of none may still list the component as down).
        spans = [s for s in (av.notice_span(timeline, now), *av.component_spans(timeline, slug, now)) if s]
        if any(s.start < end and s.end > start for s in spans):
            found.append((min(s.start for s in spans), notice_view(notice)))
    return [n for _, n in sorted(found, key=lambda pair: (pair[0], pair[1].id))]


@bp.get("/driftsstatus/<slug>")
def component(slug: str) -> ResponseReturnValue:
    """One component: its 90 days, a chosen day's notices, its months, and before and after the cut-over."""
    settings = state().settings
    if slug not in settings.component_slugs():
        return render_template("pages/not_found.html"), 404
    session = db_session()
    now = clock_now()
    today = av.local_day(now)
    try:
        chosen = _day_arg(request.args.get("dag"), today)
    except ValueError:
        return render_template("pages/component.html", bad_day=True, slug=slug,
                               name=dict((c.slug, c.name) for c in settings.components)[slug]), 400
    window = window_for(session, settings)
    v = versions(session, now)
    key = page_key("component", slug, chosen, v["notices"], window.start, window.end,
                   now.replace(second=0, microsecond=0))

    def render() -> str:
        weight = settings.availability.partial_weight
        history = 366
        if window.start is not None:
            history = max(history, (today - av.local_day(window.start)).days + COMPARE_DAYS + 1)
        history = min(history, LONGEST_HISTORY)
        record = next(r for r in cached_records(session, now, history) if r.slug == slug)
        months = [{"month": m, "availability": av.availability(days, weight),
                   **{s: sum(getattr(d, s) for d in days) for s in av.STATES}}
                  for m, days in av.by_month(record.last(366))][-MONTHS:]
        target = next((t.target for t in settings.availability.targets if t.component == slug), None)
        compare = None
        if window.start is not None and window.end is not None:
            before, after = av.before_after(record.days, window.start, window.end, COMPARE_DAYS)
            compare = [_period(before, weight), _period(after, weight)]
        figures = next((d for d in record.days if d.day == chosen), None)
        status = next((c.status for c in components(session, now, v["notices"]) if c.slug == slug), None)
        names = {c.slug: c.name for c in settings.components}
        notices = [notice_view(n) for n in list_notices(session, "all", slug)][:20]
        return render_template(
            "pages/component.html", slug=slug, name=record.name, supplier=record.supplier, status=status,
            row=bar_row(record, weight), weight=weight, months=list(reversed(months)), target=target,
            window=window, compare=compare, compare_days=COMPARE_DAYS, chosen=chosen, figures=figures,
            chosen_availability=figures.availability(weight) if figures else None,
            day_notices=_day_notices(session, slug, chosen, now) if chosen else [], notices=notices,
            names=names, states=av.STATES, polled=last_poll(session))

    return cache().get_or_compute(key, render)


def _period(days: list[av.DayFigures], weight: float) -> dict[str, Any]:
    return {"first": days[0].day if days else None, "last": days[-1].day if days else None, "count": len(days),
            "availability": av.availability(days, weight), **{s: sum(getattr(d, s) for d in days) for s in av.STATES}}

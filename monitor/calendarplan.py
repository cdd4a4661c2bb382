"""What the calendar publishes, and the SEQUENCE of each event, kept apart from any request.

The events are the cut-over window, the frozen zone and every planned maintenance. A
maintenance whose planned times are the window's own (the operators' notice of the move) is
the window: it is published once, as the window, which names the notice.

UIDs are stable: the window and the frozen zone have fixed ones, a maintenance one made from
its source and upstream id. `calendar_events` keeps the times last recorded per UID;
`record` (the scheduler's calendar job, and `monitor serve` at start) raises SEQUENCE by one
when they change (RFC 5545 3.8.7.4), so calendar programs replace the event instead of
keeping both. A request only reads: an event whose times changed since the last record is
published with the SEQUENCE the next record will give it, so a reader never waits for the job.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .cutover import Window, window_for
from .models import CalendarEvent, Notice, NoticeComponent
from .settings import Settings

DOMAIN = "infrastrukturmonitor"
WINDOW_UID = f"skiftevindue@{DOMAIN}"
FROZEN_ZONE_UID = f"frysezone@{DOMAIN}"


@dataclass(frozen=True)
class Planned:
    """One event's identity and times; the presentation adds its words."""

    uid: str
    start: dt.datetime
    end: dt.datetime | None


@dataclass(frozen=True)
class Plan:
    """The window (when one is known), the maintenance that is the window, and the rest."""

    window: Window
    window_notice: Notice | None
    maintenance: list[Notice]

    def times(self) -> list[Planned]:
        out = []
        if self.window.start is not None:
            out.append(Planned(WINDOW_UID, self.window.start, self.window.end))
        if self.window.frozen_zone_start is not None:
            out.append(Planned(FROZEN_ZONE_UID, self.window.frozen_zone_start, self.window.end or self.window.start))
        out += [Planned(maintenance_uid(n.source_id, n.upstream_id), n.scheduled_for, n.scheduled_until)  # type: ignore[arg-type]
                for n in self.maintenance]
        return out


def maintenance_uid(source_id: int, upstream_id: str) -> str:
    """The UID of a maintenance: the same for the same upstream notice whatever its times."""
    digest = hashlib.sha256(f"{source_id}\0{upstream_id}".encode()).hexdigest()[:24]
    return f"vedligehold-{digest}@{DOMAIN}"


def is_the_window(notice: Notice, window: Window) -> bool:
    """A maintenance planned for exactly the window's start and end is the move itself."""
    return (window.start is not None and notice.scheduled_for == window.start
            and notice.scheduled_until == window.end)


def plan(session: Session, settings: Settings, component: str | None = None) -> Plan:
    """The events of the calendar, of one component's calendar when `component` is given.

    A component's calendar holds the maintenance naming it and the maintenance naming no
    component (all of the infrastructure); the window and the frozen zone are in every one.
    """
    window = window_for(session, settings)
    query = select(Notice).where(Notice.kind == "maintenance", Notice.scheduled_for.is_not(None))
    if component is not None:
        named = select(NoticeComponent.notice_id).where(NoticeComponent.component_slug == component)
        any_named = select(NoticeComponent.notice_id)
        query = query.where(Notice.id.in_(named) | Notice.id.not_in(any_named))
    notices = list(session.scalars(query.order_by(Notice.scheduled_for, Notice.id)))
    the_window = next((n for n in notices if is_the_window(n, window)), None)
    return Plan(window, the_window, [n for n in notices if n is not the_window])


def sequences(session: Session, planned: Sequence[Planned]) -> dict[str, int]:
    """Each event's SEQUENCE as published now: the recorded one, one more when its times moved since."""
    known = _recorded(session, [p.uid for p in planned])
    out = {}
    for p in planned:
        row = known.get(p.uid)
        out[p.uid] = 0 if row is None else row.sequence + _moved(row, p)
    return out


def _moved(row: CalendarEvent, p: Planned) -> bool:
    """Whether `p`'s times differ from those last recorded for it."""
    return (row.starts_at, row.ends_at) != (p.start, p.end)


def record(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> int:
    """Store the times of every event; an event whose times changed gets SEQUENCE + 1. How many changed.

    The scheduler's calendar job (every minute, and at start).
    """
    now = now or dt.datetime.now(dt.UTC)
    for attempt in (1, 2):
        try:
            with Session(engine) as session, session.begin():
                return _record(session, plan(session, settings).times(), now)
        except IntegrityError:  # another process recorded the same new event a moment ago
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _record(session: Session, planned: Iterable[Planned], now: dt.datetime) -> int:
    planned = list(planned)
    known = _recorded(session, [p.uid for p in planned])
    changed = 0
    for p in planned:
        row = known.get(p.uid)
        if row is None:
            session.add(CalendarEvent(uid=p.uid, starts_at=p.start, ends_at=p.end, sequence=0, changed_at=now))
        elif _moved(row, p):
            row.starts_at, row.ends_at, row.sequence, row.changed_at = p.start, p.end, row.sequence + 1, now
            changed += 1
    return changed


def _recorded(session: Session, uids: list[str]) -> dict[str, CalendarEvent]:
    if not uids:
        return {}
    return {row.uid: row for row in session.scalars(select(CalendarEvent).where(CalendarEvent.uid.in_(uids)))}

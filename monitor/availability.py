"""Availability per component and Copenhagen day, from the notices' own timelines.

The core is pure: a notice's `Timeline` and a `now` in, its `Span` (from when to when, in
which state) out, per component where the source gave each update's component states
(`component_spans`); spans resolved per component so that every minute counts once, in its
worst state; `DayFigures` per day; availability over any run of days, per component or per
supplier. `component_records` is the thin query on top. The rules, with examples, are in
docs/notices.md ("Availability").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from .collectors.notices.upstream import CLOSED_STATUSES
from .localtime import CPH
from .models import Notice
from .settings import Settings

# Worse states rank higher; maintenance counts only where no outage does.
STATES = ("maintenance", "degraded", "partial", "major")
RANK = {state: i for i, state in enumerate(STATES)}
# An incident's state from its impact; a feed gives none, and then it is degraded performance.
IMPACT_STATE: dict[str, str | None] = {"critical": "major", "major": "partial", "minor": "degraded", "none": None}
MAINTENANCE_RUNNING = ("in_progress", "verifying")
MAINTENANCE_DONE = ("completed",)
# A component's state from an update's component status (Statuspage's words); operational is None.
COMPONENT_STATE: dict[str, str | None] = {"operational": None, "degraded_performance": "degraded",
                                          "partial_outage": "partial", "major_outage": "major",
                                          "under_maintenance": "maintenance"}
WINDOWS = (1, 30, 90)
MAX_DAYS = 366


@dataclass(frozen=True)
class Timeline:
    """One notice as availability reads it: its kind, status, impact, times and updates."""

    kind: str  # incident | maintenance
    status: str
    impact: str | None = None
    started_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    scheduled_for: dt.datetime | None = None
    scheduled_until: dt.datetime | None = None
    updates: tuple[tuple[str, dt.datetime], ...] = ()  # (status, at), in any order
    components: tuple[str, ...] = ()  # none: the whole infrastructure
    # (at, ((component slug, its status from then on), ...)) of each update that lists component
    # states (Statuspage); empty when the source gives none per update (RSS, Atom).
    states: tuple[tuple[dt.datetime, tuple[tuple[str, str], ...]], ...] = ()


@dataclass(frozen=True)
class Span:
    """From `start` (included) to `end` (excluded), whole UTC minutes, in `state`."""

    start: dt.datetime
    end: dt.datetime
    state: str

    @property
    def minutes(self) -> int:
        """The span's length in minutes."""
        return int((self.end - self.start).total_seconds()) // 60


@dataclass(frozen=True)
class DayFigures:
    """One Copenhagen day: the minutes it had (up to now) and the minutes in each state."""

    day: dt.date
    minutes: int
    major: int = 0
    partial: int = 0
    degraded: int = 0
    maintenance: int = 0

    def bad(self, weight: float) -> float:
        """Unavailable minutes: major outage in full, partial outage weighed by `weight`."""
        return self.major + weight * self.partial

    @property
    def counted(self) -> int:
        """The minutes availability is judged over: the day's minutes less maintenance."""
        return self.minutes - self.maintenance

    def availability(self, weight: float) -> float | None:
        """1 − bad / counted minutes; None when no minute counts (all maintenance, or not begun)."""
        return availability([self], weight)

    @property
    def worst(self) -> str | None:
        """The worst state the day saw, for the colour of its bar (None: no notice)."""
        for state in reversed(STATES):
            if getattr(self, state):
                return state
        return None


@dataclass(frozen=True)
class ComponentRecord:
    """A component's days, oldest first, ending with today (counted up to now)."""

    slug: str
    name: str
    supplier: str
    days: tuple[DayFigures, ...] = field(default=())

    def last(self, n: int) -> tuple[DayFigures, ...]:
        """The last `n` days (today included)."""
        return self.days[-n:] if n > 0 else ()


def minute(t: dt.datetime) -> dt.datetime:
    """`t` in UTC, cut to its whole minute."""
    return t.astimezone(dt.UTC).replace(second=0, microsecond=0)


def _first(updates: Iterable[tuple[str, dt.datetime]], statuses: Sequence[str]) -> dt.datetime | None:
    times = [at for status, at in updates if status in statuses]
    return min(times) if times else None


def notice_span(notice: Timeline, now: dt.datetime) -> Span | None:
    """When a notice made its components unavailable, and how; None when it did not (yet).

    An incident runs from its start (else its first update) to its resolution, an open one up
    to `now`, in the state its impact gives. A maintenance runs from its in-progress update
    (else `scheduled_for`) to its completion (else `scheduled_until`); one in progress and not
    completed runs up to `now`.
    """
    window = notice_window(notice, now)
    if window is None:
        return None
    state, start, end = window
    return Span(start, end, state) if state is not None else None


def notice_window(notice: Timeline, now: dt.datetime) -> tuple[str | None, dt.datetime, dt.datetime] | None:
    """The notice's state (None: its impact makes nothing unavailable) and its run in whole
    minutes, as `notice_span` reads them; None when it has not run (yet)."""
    times = [at for _, at in notice.updates]
    closed = notice.status in CLOSED_STATUSES
    if notice.kind == "maintenance":
        state: str | None = "maintenance"
        running = _first(notice.updates, MAINTENANCE_RUNNING)
        start = running or notice.scheduled_for
        done = _first(notice.updates, MAINTENANCE_DONE)
        if done or closed:
            end = done or notice.resolved_at or notice.scheduled_until or (max(times) if times else None)
        else:
            end = now if running else notice.scheduled_until
    else:
        state = IMPACT_STATE.get(notice.impact, "degraded") if notice.impact else "degraded"
        start = notice.started_at or (min(times) if times else None)
        end = (notice.resolved_at or (max(times) if times else None)) if closed else now
    if start is None or end is None:
        return None
    start, end = minute(start), min(minute(end), minute(now))
    return (state, start, end) if end > start else None


def component_spans(notice: Timeline, slug: str, now: dt.datetime) -> list[Span]:
    """When the notice made the component `slug` unavailable, and how, in time order.

    Where the notice's updates list the component's status (`Timeline.states`), each status
    holds from its update until the next update that lists the component, or the end of the
    notice's run; an operational status counts nothing. What the source does not say is not
    counted as available: before the first update that lists the component, and for a status
    word not known, the notice's own state holds. A component that no update lists, and every
    component of a notice whose source gives no states per update, is counted over the
    notice's whole run (`notice_span`).
    """
    window = notice_window(notice, now)
    if window is None:
        return []
    state, start, end = window
    listed = sorted(((at, status) for at, states in notice.states for s, status in states if s == slug),
                    key=lambda pair: pair[0])  # stable: two statuses of one instant keep upstream's order
    if not listed:
        return [Span(start, end, state)] if state is not None else []
    pieces: list[tuple[dt.datetime, str | None]] = [(start, state)]
    pieces += [(minute(at), COMPONENT_STATE.get(status, state)) for at, status in listed]
    out: list[Span] = []
    for (at, piece_state), (until, _) in zip(pieces, [*pieces[1:], (end, None)], strict=True):
        a, b = max(at, start), min(until, end)
        if piece_state is None or b <= a:
            continue
        if out and out[-1].end == a and out[-1].state == piece_state:
            out[-1] = Span(out[-1].start, b, piece_state)
        else:
            out.append(Span(a, b, piece_state))
    return out


def resolve(spans: Iterable[Span]) -> list[Span]:
    """Disjoint spans in time order: where spans overlap, each minute once, in its worst state."""
    spans = list(spans)
    edges = sorted({t for s in spans for t in (s.start, s.end)})
    out: list[Span] = []
    for a, b in zip(edges, edges[1:], strict=False):
        covering = [s.state for s in spans if s.start <= a and b <= s.end]
        if not covering:
            continue
        state = max(covering, key=RANK.__getitem__)
        if out and out[-1].end == a and out[-1].state == state:
            out[-1] = Span(out[-1].start, b, state)
        else:
            out.append(Span(a, b, state))
    return out


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """A Copenhagen day as UTC instants: 23, 24 or 25 hours."""
    start = dt.datetime.combine(day, dt.time(0), CPH).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), CPH).astimezone(dt.UTC)
    return start, end


def local_day(t: dt.datetime) -> dt.date:
    """The Copenhagen calendar day of the instant `t`."""
    return t.astimezone(CPH).date()


def daily_figures(spans: Iterable[Span], days: int, now: dt.datetime) -> tuple[DayFigures, ...]:
    """The last `days` Copenhagen days up to `now`, oldest first, from spans of one component."""
    resolved = resolve(spans)
    end_of_data = minute(now)
    today = local_day(now)
    out = []
    first = 0  # resolved spans are disjoint and in order: those ending before a day never come back
    for back in range(days - 1, -1, -1):
        day = today - dt.timedelta(days=back)
        start, end = day_bounds(day)
        end = min(end, end_of_data)
        counts = dict.fromkeys(STATES, 0)
        while first < len(resolved) and resolved[first].end <= start:
            first += 1
        for s in resolved[first:]:
            if s.start >= end:
                break
            counts[s.state] += Span(max(s.start, start), min(s.end, end), s.state).minutes
        out.append(DayFigures(day, max(0, int((end - start).total_seconds()) // 60), **counts))
    return tuple(out)


def availability(days: Iterable[DayFigures], weight: float) -> float | None:
    """1 − (major + weight · partial) / (minutes − maintenance) over `days`; None when no minute counts."""
    days = list(days)
    counted = sum(d.counted for d in days)
    if counted <= 0:
        return None
    return min(1.0, max(0.0, 1 - sum(d.bad(weight) for d in days) / counted))


def combine(records: Sequence[ComponentRecord]) -> tuple[DayFigures, ...]:
    """Several components' days added up day by day (a supplier's record over its components)."""
    if not records:
        return ()
    out = []
    for same_day in zip(*(r.days for r in records), strict=True):
        out.append(DayFigures(same_day[0].day, sum(d.minutes for d in same_day),
                              **{s: sum(getattr(d, s) for d in same_day) for s in STATES}))
    return tuple(out)


def error_budget_remaining(days: Iterable[DayFigures], weight: float, target: float) -> float | None:
    """The share of the budget (1 − target) left over `days`: 1 untouched, 0 spent, below 0 overspent."""
    achieved = availability(days, weight)
    if achieved is None or target >= 1:
        return None
    return 1 - (1 - achieved) / (1 - target)


def by_month(days: Iterable[DayFigures]) -> list[tuple[dt.date, list[DayFigures]]]:
    """Days grouped by calendar month (the first of the month as its key), oldest first."""
    months: dict[dt.date, list[DayFigures]] = {}
    for d in days:
        months.setdefault(d.day.replace(day=1), []).append(d)
    return sorted(months.items())


def before_after(days: Sequence[DayFigures], start: dt.datetime, end: dt.datetime, span: int = 30
                 ) -> tuple[list[DayFigures], list[DayFigures]]:
    """Up to `span` whole days before the day the window starts, and after the day it ends.

    The window's own days are in neither; the days after stop at the last day there is.
    """
    first, last = local_day(start), local_day(end)
    before = [d for d in days if first - dt.timedelta(days=span) <= d.day < first]
    after = [d for d in days if last < d.day <= last + dt.timedelta(days=span)]
    return before, after


# ---- the query -------------------------------------------------------------------------------

def timeline(notice: Notice) -> Timeline:
    """A stored notice as a `Timeline`."""
    return Timeline(kind=notice.kind, status=notice.status, impact=notice.impact, started_at=notice.started_at,
                    resolved_at=notice.resolved_at, scheduled_for=notice.scheduled_for,
                    scheduled_until=notice.scheduled_until,
                    updates=tuple((u.status, u.at) for u in notice.updates),
                    components=tuple(sorted(c.component_slug for c in notice.components)),
                    states=tuple((u.at, tuple(sorted(u.component_states.items())))
                                 for u in sorted(notice.updates, key=lambda u: (u.at, u.id))
                                 if u.component_states))


def timelines(session: Session, since: dt.datetime) -> list[Timeline]:
    """The stored notices that may have run after `since` (open ones, and those closed or changed after it)."""
    query = select(Notice).where(or_(Notice.status.not_in(sorted(CLOSED_STATUSES)), Notice.resolved_at >= since,
                                     Notice.updated_at >= since, Notice.scheduled_until >= since))
    return [timeline(n) for n in session.scalars(query)]


def records(notices: Iterable[Timeline], settings: Settings, now: dt.datetime, days: int) -> list[ComponentRecord]:
    """Each configured component's last `days` days, in the configured order.

    A notice naming no component concerns every component.
    """
    spans: dict[str, list[Span]] = {c.slug: [] for c in settings.components}
    for notice in notices:
        span = None if notice.states else notice_span(notice, now)  # the same for every component
        if span is None and not notice.states:
            continue
        for slug in notice.components or tuple(spans):
            if slug in spans:
                spans[slug].extend([span] if span is not None else component_spans(notice, slug, now))
    return [ComponentRecord(c.slug, c.name, c.supplier, daily_figures(spans[c.slug], days, now))
            for c in settings.components]


def component_records(session: Session, settings: Settings, now: dt.datetime,
                      days: int = 90) -> list[ComponentRecord]:
    """Every configured component's last `days` Copenhagen days (at most `MAX_DAYS`) up to `now`."""
    days = max(1, min(days, MAX_DAYS))
    since = day_bounds(local_day(now) - dt.timedelta(days=days - 1))[0]
    return records(timelines(session, since), settings, now, days)


def component_record(session: Session, settings: Settings, slug: str, now: dt.datetime,
                     days: int = 90) -> ComponentRecord | None:
    """One component's last `days` days (at least the 90 its windows need); None for an unknown component."""
    if slug not in settings.component_slugs():
        return None
    return next(r for r in component_records(session, settings, now, max(days, 90)) if r.slug == slug)

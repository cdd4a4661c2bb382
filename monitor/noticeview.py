"""Notices and component status as the API, pages, feeds and metrics read them.

They leave this module as typed views (`NoticeView`, `UpdateView`, `ComponentView`, a
`ComponentStatus` per component), so mypy checks what the pages, the Atom feed and the
metrics read from them; only the API (`web/api_notices.py`) turns them into JSON.

A notice that names no component concerns the whole infrastructure: it is listed under
every component and counts towards every component's status.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from .collectors.notices.upstream import CLOSED_STATUSES, safe_url, sanitize
from .db import utcnow
from .models import Component, Notice, NoticeComponent

ComponentStatus = Literal["operational", "under_maintenance", "degraded_performance", "partial_outage",
                          "major_outage"]
COMPONENT_STATUSES: tuple[ComponentStatus, ...] = (
    "operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")
# Worse statuses rank higher; an incident outranks maintenance on the same component.
RANK = {status: i for i, status in enumerate(COMPONENT_STATUSES)}
IMPACT_STATUS: dict[str, ComponentStatus] = {"none": "operational", "minor": "degraded_performance",
                                             "major": "partial_outage", "critical": "major_outage"}
MAINTENANCE_ACTIVE = ("in_progress", "verifying")
KINDS = ("incident", "maintenance")


@dataclass(frozen=True)
class UpdateView:
    """One update of a notice: its status, its text as sanitised HTML, when it was posted."""

    status: str
    body_html: str
    at: dt.datetime


@dataclass(frozen=True)
class NoticeView:
    """One notice as the API, the pages, the Atom feed and the calendar read it (updates newest first).

    Its JSON, an element of GET /api/v1/notices, is written by `web/api_notices.notice_json`.
    """

    id: int
    title: str
    kind: str
    status: str
    impact: str | None
    components: tuple[str, ...]  # slugs, sorted; none: the whole infrastructure
    url: str | None
    started_at: dt.datetime | None
    updated_at: dt.datetime | None
    resolved_at: dt.datetime | None
    scheduled_for: dt.datetime | None  # a planned maintenance's window (None for incidents)
    scheduled_until: dt.datetime | None
    updates: tuple[UpdateView, ...]

    def is_upcoming(self, now: dt.datetime) -> bool:
        """True for a maintenance still only planned: scheduled, its window not yet begun.

        Such a notice is shown as "Planlagt fra … til …" and never among the open notices:
        it has not started.
        """
        return (self.kind == "maintenance" and self.status == "scheduled" and self.scheduled_for is not None
                and self.scheduled_for > now)


@dataclass(frozen=True)
class ComponentView:
    """A configured component and its status now (an element of GET /api/v1/components)."""

    slug: str
    name: str
    status: ComponentStatus


def is_open(notice: Notice) -> bool:
    """True while a notice is not resolved, completed or closed by a postmortem."""
    return notice.status not in CLOSED_STATUSES


def split_upcoming(notices: list[NoticeView], now: dt.datetime) -> tuple[list[NoticeView], list[NoticeView]]:
    """The open notices that have begun, and the planned maintenance not yet begun (soonest first)."""
    far_past = dt.datetime.min.replace(tzinfo=dt.UTC)
    upcoming = sorted((n for n in notices if n.is_upcoming(now)), key=lambda n: n.scheduled_for or far_past)
    return [n for n in notices if not n.is_upcoming(now)], upcoming


def notice_view(notice: Notice) -> NoticeView:
    """One notice as a `NoticeView` (updates newest first)."""
    updates = sorted(notice.updates, key=lambda u: u.at, reverse=True)
    return NoticeView(
        id=notice.id, title=notice.title, kind=notice.kind, status=notice.status, impact=notice.impact,
        components=tuple(sorted(c.component_slug for c in notice.components)),
        # Checked again on the way out: rows stored before the scheme rule keep no unsafe link.
        url=safe_url(notice.url),
        started_at=notice.started_at, updated_at=notice.updated_at, resolved_at=notice.resolved_at,
        scheduled_for=notice.scheduled_for, scheduled_until=notice.scheduled_until,
        updates=tuple(UpdateView(u.status, sanitize(u.body_html or ""), u.at) for u in updates))


def list_notices(session: Session, status: str = "open", component: str | None = None) -> list[Notice]:
    """Notices, newest activity first; `status` "open" or "all"; `component` also keeps notices naming none."""
    query = select(Notice)
    if status == "open":
        query = query.where(Notice.status.not_in(sorted(CLOSED_STATUSES)))
    if component is not None:
        named = select(NoticeComponent.notice_id).where(NoticeComponent.component_slug == component)
        any_named = select(NoticeComponent.notice_id)
        query = query.where(Notice.id.in_(named) | Notice.id.not_in(any_named))
    notices = list(session.scalars(query))
    far_past = dt.datetime.min.replace(tzinfo=dt.UTC)
    notices.sort(key=lambda n: (n.updated_at or n.first_seen_at or far_past, n.id), reverse=True)
    return notices


def notices(session: Session, status: str = "open", component: str | None = None) -> list[NoticeView]:
    """The notices of GET /api/v1/notices (`list_notices`), as views."""
    return [notice_view(n) for n in list_notices(session, status, component)]


def closed_notices_page(session: Session, page: int, size: int) -> tuple[list[NoticeView], bool]:
    """Page `page` (from 1) of the closed notices, `size` a page, most recently updated first,
    and whether an older page follows.

    The database sorts and cuts (LIMIT/OFFSET): a page costs the same whatever the number of
    notices stored, and nothing but its own rows is loaded.
    """
    newest = func.coalesce(Notice.updated_at, Notice.first_seen_at)
    query = (select(Notice).where(Notice.status.in_(sorted(CLOSED_STATUSES)))
             .order_by(newest.desc(), Notice.id.desc()).offset((page - 1) * size).limit(size + 1)
             .options(selectinload(Notice.updates), selectinload(Notice.components)))
    rows = list(session.scalars(query))
    return [notice_view(n) for n in rows[:size]], len(rows) > size


def notice_effect(notice: Notice, now: dt.datetime) -> ComponentStatus:
    """What an open notice does to the components it concerns.

    An incident counts by its impact; a feed gives none, and then it is degraded performance.
    A maintenance counts while in progress (or scheduled with its window running).
    """
    if not is_open(notice):
        return "operational"
    if notice.kind == "maintenance":
        running = (notice.status in MAINTENANCE_ACTIVE or (
            notice.status == "scheduled" and notice.scheduled_for is not None and notice.scheduled_for <= now
            and (notice.scheduled_until is None or now < notice.scheduled_until)))
        return "under_maintenance" if running else "operational"
    return IMPACT_STATUS.get(notice.impact or "", "degraded_performance")


def component_statuses(session: Session, now: dt.datetime | None = None) -> dict[str, ComponentStatus]:
    """Each configured component's status, the worst effect of the open notices on it."""
    now = now or utcnow()
    slugs = list(session.scalars(select(Component.slug).order_by(Component.position)))
    statuses: dict[str, ComponentStatus] = dict.fromkeys(slugs, "operational")
    for notice in list_notices(session, "open"):
        effect = notice_effect(notice, now)
        concerned = [c.component_slug for c in notice.components] or slugs
        for slug in concerned:
            if slug in statuses and RANK[effect] > RANK[statuses[slug]]:
                statuses[slug] = effect
    return statuses


def components(session: Session, now: dt.datetime | None = None) -> list[ComponentView]:
    """Every configured component in its order, with its status (GET /api/v1/components)."""
    statuses = component_statuses(session, now)
    rows = session.scalars(select(Component).order_by(Component.position))
    return [ComponentView(c.slug, c.name, statuses[c.slug]) for c in rows]


def open_notice_counts(session: Session) -> dict[tuple[str, str], int]:
    """Open notices per (component slug, kind), for ``fki_notices_open{component,kind}``.

    A notice naming no component counts under "all"; every component (and "all") is
    present for both kinds, at zero when nothing is open, so the series never vanish.
    """
    slugs = list(session.scalars(select(Component.slug).order_by(Component.position)))
    counts = {(slug, kind): 0 for slug in [*slugs, "all"] for kind in KINDS}
    for notice in list_notices(session, "open"):
        for slug in [c.component_slug for c in notice.components] or ["all"]:
            key = (slug, notice.kind)
            counts[key] = counts.get(key, 0) + 1
    return counts

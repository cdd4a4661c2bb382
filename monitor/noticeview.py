"""Notices and component status as the API, pages, feeds and metrics read them.

A notice that names no component concerns the whole infrastructure: it is listed under
every component and counts towards every component's status.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from .collectors.notices.upstream import CLOSED_STATUSES, safe_url, sanitize
from .db import utcnow
from .models import Component, Notice, NoticeComponent

COMPONENT_STATUSES = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")
# Worse statuses rank higher; an incident outranks maintenance on the same component.
RANK = {status: i for i, status in enumerate(COMPONENT_STATUSES)}
IMPACT_STATUS = {"none": "operational", "minor": "degraded_performance",
                 "major": "partial_outage", "critical": "major_outage"}
MAINTENANCE_ACTIVE = ("in_progress", "verifying")
KINDS = ("incident", "maintenance")


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t else None


def is_open(notice: Notice) -> bool:
    """True while a notice is not resolved, completed or closed by a postmortem."""
    return notice.status not in CLOSED_STATUSES


def is_upcoming(notice: dict[str, Any], now: dt.datetime) -> bool:
    """True for a maintenance still only planned: scheduled, its window not yet begun.

    Such a notice is shown as "Planlagt fra … til …" and never among the open notices: it
    has not started (`notice` is an element of GET /api/v1/notices).
    """
    if notice.get("kind") != "maintenance" or notice.get("status") != "scheduled":
        return False
    start = notice.get("scheduled_for")
    if start is None:
        return False
    begins = dt.datetime.fromisoformat(start)
    return (begins if begins.tzinfo else begins.replace(tzinfo=dt.UTC)) > now


def split_upcoming(notices: list[dict[str, Any]], now: dt.datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The open notices that have begun, and the planned maintenance not yet begun (soonest first)."""
    upcoming = sorted((n for n in notices if is_upcoming(n, now)), key=lambda n: n["scheduled_for"])
    return [n for n in notices if not is_upcoming(n, now)], upcoming


def notice_json(notice: Notice) -> dict[str, Any]:
    """One notice in the shape of GET /api/v1/notices (updates newest first)."""
    updates = sorted(notice.updates, key=lambda u: u.at, reverse=True)
    return {
        "id": notice.id,
        "title": notice.title,
        "kind": notice.kind,
        "status": notice.status,
        "impact": notice.impact,
        "components": sorted(c.component_slug for c in notice.components),
        # Checked again on the way out: rows stored before the scheme rule keep no unsafe link.
        "url": safe_url(notice.url),
        "started_at": _iso(notice.started_at),
        "updated_at": _iso(notice.updated_at),
        "resolved_at": _iso(notice.resolved_at),
        "scheduled_for": _iso(notice.scheduled_for),
        "scheduled_until": _iso(notice.scheduled_until),
        "updates": [{"status": u.status, "body_html": sanitize(u.body_html or ""), "at": _iso(u.at)}
                    for u in updates],
    }


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


def notices_document(session: Session, status: str = "open", component: str | None = None) -> dict[str, Any]:
    """The document of GET /api/v1/notices: ``{"notices": [...]}``."""
    return {"notices": [notice_json(n) for n in list_notices(session, status, component)]}


def closed_notices_page(session: Session, page: int, size: int) -> tuple[list[dict[str, Any]], bool]:
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
    return [notice_json(n) for n in rows[:size]], len(rows) > size


def notice_effect(notice: Notice, now: dt.datetime) -> str:
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


def component_statuses(session: Session, now: dt.datetime | None = None) -> dict[str, str]:
    """Each configured component's status, the worst effect of the open notices on it."""
    now = now or utcnow()
    slugs = list(session.scalars(select(Component.slug).order_by(Component.position)))
    statuses = dict.fromkeys(slugs, "operational")
    for notice in list_notices(session, "open"):
        effect = notice_effect(notice, now)
        concerned = [c.component_slug for c in notice.components] or slugs
        for slug in concerned:
            if slug in statuses and RANK[effect] > RANK[statuses[slug]]:
                statuses[slug] = effect
    return statuses


def components_document(session: Session, now: dt.datetime | None = None) -> dict[str, Any]:
    """The document of GET /api/v1/components: ``{"components": [{"slug", "name", "status"}]}``."""
    statuses = component_statuses(session, now)
    rows = session.scalars(select(Component).order_by(Component.position))
    return {"components": [{"slug": c.slug, "name": c.name, "status": statuses[c.slug]} for c in rows]}


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

"""Storing parsed notices: upsert by (source, upstream id), each update once, in order.

An update is identified by its status and its time. A text edited upstream changes the
stored text and notifies nobody; a new update that is not part of a backfill is handed, in
the same transaction, to the `queue` the caller passes in (`notify.outbox.enqueue_for_update`:
the collector knows nothing of subscribers, notify depends on it and not the reverse). A poll that brings more than `[notices]
max_new_per_poll` new updates queues no mail at all: they are stored held, and an operator
releases or discards them on /drift (`monitor.notify.held`). Where the source lists each
update's component states (Statuspage), they are kept by component slug with the update
(filled in on an update stored before, without a mail), for availability to read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ...models import Component, Notice, NoticeComponent, NoticeSource, NoticeUpdate
from ...settings import NoticesSettings
from .upstream import ParsedNotice

_ID_CHUNK = 500

# Queues a new update's deliveries in the caller's transaction and says how many.
QueueUpdate = Callable[[Session, NoticeUpdate], int]


@dataclass
class StoreCounts:
    """What one store did, for the run report."""

    new_notices: int = 0
    new_updates: int = 0
    edited_updates: int = 0
    queued: int = 0
    held: int = 0

    def describe(self) -> str:
        """A short human summary such as "2 new notices, 5 new updates, 1 edited"."""
        text = (f"{self.new_notices} new notice(s), {self.new_updates} new update(s), "
                f"{self.edited_updates} edited, {self.queued} notification(s) queued")
        if self.held:
            text += f"; {self.held} new update(s) held for an operator (more than max_new_per_poll): no mail queued"
        return text


def resolve_components(notice: ParsedNotice, components: Sequence[Component],
                       defaults: Sequence[str]) -> list[str]:
    """The component slugs a notice concerns, in the configured order.

    Names upstream gives (JSON lists, the "… affected: A, B." line) are matched against a
    component's name, slug or keywords; then every component whose keyword occurs in the
    title or text is added. Without any, the source's default components apply; an empty
    result means the whole infrastructure.
    """
    found: set[str] = set()
    for name in notice.component_names:
        found.update(named_slugs(name, components))
    text = f"{notice.title} {notice.text}".lower()
    for c in components:
        if any(k and k.lower() in text for k in c.keywords or []):
            found.add(c.slug)
    known = {c.slug for c in components}
    if not found:
        found = {slug for slug in defaults if slug in known}
    return [c.slug for c in components if c.slug in found]


def named_slugs(name: str, components: Sequence[Component]) -> list[str]:
    """The components a name upstream gives means: by name, slug or keyword."""
    low = name.strip().lower()
    return [c.slug for c in components
            if low in (c.name.lower(), c.slug) or any(k and k.lower() in low for k in c.keywords or [])]


def component_states(states: Sequence[tuple[str, str]] | None, components: Sequence[Component]
                     ) -> dict[str, str] | None:
    """An update's (name, status) pairs as component slug → status; None when the source gives none.

    A name that means several components sets each; a component named twice keeps the status
    listed last.
    """
    if states is None:
        return None
    out: dict[str, str] = {}
    for name, status in states:
        for slug in named_slugs(name, components):
            out[slug] = status
    return out


def store_notices(session: Session, source: NoticeSource, notices: Sequence[ParsedNotice], *,
                  backfill: bool, defaults: Sequence[str], now: dt.datetime, queue: QueueUpdate,
                  max_new: int = NoticesSettings.max_new_per_poll) -> StoreCounts:
    """Upsert `notices` of `source`; new updates are handed to `queue` unless `backfill`.

    More than `max_new` new updates in one call are all held instead: none is queued.
    """
    counts = StoreCounts()
    fresh = upsert_notices(session, source, notices, backfill=backfill, defaults=defaults, now=now, counts=counts)
    queue_or_hold(session, fresh, counts, max_new, queue)
    return counts


def upsert_notices(session: Session, source: NoticeSource, notices: Sequence[ParsedNotice], *,
                   backfill: bool, defaults: Sequence[str], now: dt.datetime, counts: StoreCounts
                   ) -> list[NoticeUpdate]:
    """Store `notices` of `source`, counting into `counts`; the new updates to deliver, not yet queued."""
    fresh: list[NoticeUpdate] = []
    components = list(session.scalars(select(Component).order_by(Component.position)))
    known = _existing_notices(session, source, [n.upstream_id for n in notices])
    for parsed in notices:
        notice = known.get(parsed.upstream_id)
        if notice is None:
            notice = Notice(source_id=source.id, upstream_id=parsed.upstream_id, first_seen_at=now,
                            backfilled=backfill, kind=parsed.kind, title=parsed.title, status=parsed.status)
            session.add(notice)
            # A document naming the same notice twice updates the one just added.
            known[parsed.upstream_id] = notice
            counts.new_notices += 1
        _apply_fields(notice, parsed)
        slugs = resolve_components(parsed, components, defaults)
        if sorted(c.component_slug for c in notice.components) != sorted(slugs):
            notice.components = [NoticeComponent(component_slug=s) for s in slugs]
        session.flush()
        _store_updates(session, notice, parsed, backfill, now, counts, fresh, components)
    return fresh


def queue_or_hold(session: Session, fresh: Sequence[NoticeUpdate], counts: StoreCounts, max_new: int,
                  queue: QueueUpdate) -> None:
    """Hand the poll's new updates to `queue`, or hold them all when there are more than `max_new`."""
    if len(fresh) > max_new:
        for row in fresh:
            row.held = True
        counts.held += len(fresh)
        session.flush()
    else:
        for row in fresh:
            counts.queued += queue(session, row)


def _existing_notices(session: Session, source: NoticeSource, upstream_ids: Sequence[str]
                      ) -> dict[str, Notice]:
    """The stored notices of `source` among `upstream_ids`, with their components and updates.

    One query per chunk of ids plus one each for the components and the updates (loaded with
    `selectinload`), instead of three per item: a poll compares every item of the document.
    """
    found: dict[str, Notice] = {}
    wanted = list(dict.fromkeys(upstream_ids))
    # Chunked so that a very long document stays under the databases' bound-parameter limits.
    for start in range(0, len(wanted), _ID_CHUNK):
        chunk = wanted[start:start + _ID_CHUNK]
        found.update((n.upstream_id, n) for n in session.scalars(
            select(Notice).where(Notice.source_id == source.id, Notice.upstream_id.in_(chunk))
            .options(selectinload(Notice.components), selectinload(Notice.updates))))
    return found


def _apply_fields(notice: Notice, parsed: ParsedNotice) -> None:
    notice.kind, notice.title, notice.status = parsed.kind, parsed.title, parsed.status[:30]
    notice.url = parsed.url
    if parsed.impact is not None:
        notice.impact = parsed.impact
    notice.started_at = parsed.started_at or notice.started_at
    notice.updated_at = parsed.updated_at or notice.updated_at
    notice.resolved_at = parsed.resolved_at
    notice.scheduled_for = parsed.scheduled_for or notice.scheduled_for
    notice.scheduled_until = parsed.scheduled_until or notice.scheduled_until


def _store_updates(session: Session, notice: Notice, parsed: ParsedNotice, backfill: bool,
                   now: dt.datetime, counts: StoreCounts, fresh: list[NoticeUpdate],
                   components: Sequence[Component]) -> None:
    existing = {(u.status, u.at): u for u in notice.updates}
    wanted = {(u.status, u.at) for u in parsed.updates}
    # An update whose status word was edited upstream is the same update at the same time.
    by_time = {u.at: u for key, u in existing.items() if key not in wanted}
    for p in reversed(parsed.updates):  # oldest first: ids grow with time
        row = existing.get((p.status, p.at)) or by_time.pop(p.at, None)
        states = component_states(p.components, components)
        if row is not None:
            if row.body_html != p.body_html or row.status != p.status:
                row.body_html, row.status = p.body_html, p.status
                counts.edited_updates += 1
            if states is not None and row.component_states != states:  # filled in, or corrected: no mail
                row.component_states = states
            continue
        row = NoticeUpdate(notice=notice, status=p.status, at=p.at, body_html=p.body_html,
                           first_seen_at=now, backfilled=backfill, component_states=states)
        session.add(row)
        session.flush()
        counts.new_updates += 1
        if not backfill:
            fresh.append(row)  # queued (or held) once the whole document is stored

"""The notice collector: poll each status-page source, parse it, store what changed.

New updates are handed to the `queue` the caller passes in (the scheduler and the command
line pass `notify.outbox.enqueue_for_update`, through `notify.collect`).

Each source is polled in a transaction of its own, so one broken source never holds back
another. The first clean poll of a source is its backfill (history, nobody notified). A
broken or partial document keeps every complete item, reports the rest and leaves the
conditional-GET validators as they were, so the next poll fetches it whole again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ... import runs
from ...db import session_factory, session_scope
from ...models import NoticeSource, NoticeUpdate
from ...settings import NoticesSettings, Settings
from .httpfetch import FetchError, TooLarge, fetch_url, is_url, make_client, read_path, resolve_location
from .kinds import KINDS
from .limits import apply_limits
from .store import QueueUpdate, StoreCounts, queue_or_hold, store_notices, upsert_notices
from .upstream import ParseResult, admit, clean_text

log = logging.getLogger(__name__)
COLLECTOR = "notices"
MAX_BACKOFF_SECONDS = 3600


@dataclass
class SourceSpec:
    """A source to poll: its name, where it is (URL or absolute path), kind and defaults."""

    name: str
    location: str
    kind: str
    components: tuple[str, ...] = ()


@dataclass
class Outcome:
    """How one source's poll went."""

    name: str
    ok: bool
    summary: str
    problems: list[str] = field(default_factory=list)
    # The same as codes and counts: "not_modified", "stored", "partly" or "failed".
    state: str = "failed"
    counts: StoreCounts | None = None
    backfill: bool = False

    def details(self) -> runs.SourceDetails:
        """This source's part of the run record, which the service-health page words."""
        c = self.counts or StoreCounts()
        return runs.SourceDetails(name=self.name, state=self.state, backfill=self.backfill,
                                  problems=len(self.problems), new_notices=c.new_notices,
                                  new_updates=c.new_updates, edited=c.edited_updates, queued=c.queued)

    def lines(self) -> list[str]:
        """The report lines for the command line and the run record."""
        head = f"{self.name}: {self.summary}" if self.ok else f"{self.name}: FAILED: {self.summary}"
        return [head, *(f"  - {p}" for p in self.problems)]


def configured_sources(settings: Settings) -> list[SourceSpec]:
    """The `[[notices.sources]]` of the config, paths resolved against the config folder."""
    return [SourceSpec(s.name, resolve_location(settings, s.url), s.kind, s.components)
            for s in settings.notices.sources]


def poll_all(engine: Engine, settings: Settings, now: dt.datetime | None = None, *, queue: QueueUpdate) -> None:
    """Poll every configured source once (the scheduler's job); sources in backoff wait. Never raises."""
    try:
        poll_sources(engine, settings, configured_sources(settings), queue=queue, now=now, respect_backoff=True)
    except Exception:  # the scheduler must keep running whatever happens here
        log.exception("polling the notice sources failed")


def poll_sources(engine: Engine, settings: Settings, sources: list[SourceSpec], *, queue: QueueUpdate,
                 now: dt.datetime | None = None, respect_backoff: bool = False,
                 client: httpx.Client | None = None) -> list[Outcome]:
    """Poll `sources`, recording one collector run; returns each source's outcome.

    A new update (not a backfill's) is handed to `queue` in the transaction that stores it.

    Each source is stored in its own transaction; the run record is finished after the last.
    """
    sessions = session_factory(engine)
    outcomes: list[Outcome] = []
    with runs.recorded_run(sessions, COLLECTOR, now) as run:
        now = run.started_at
        own_client = client is None
        client = client or make_client(settings)
        try:
            for spec in sources:
                with session_scope(sessions) as session:
                    source = _source_row(session, spec)
                    if respect_backoff and _backing_off(source, settings, now):
                        continue
                    source_id = source.id
                outcomes.append(_poll_one(sessions, source_id, spec, client, now, settings.notices, queue))
        finally:
            if own_client:
                client.close()
        run.report(all(o.ok for o in outcomes), "\n".join(line for o in outcomes for line in o.lines()),
                   runs.NoticesDetails(sources=[o.details() for o in outcomes]))
    return outcomes


def _source_row(session: Session, spec: SourceSpec) -> NoticeSource:
    source = session.scalars(select(NoticeSource).where(NoticeSource.name == spec.name)).one_or_none()
    if source is None:
        source = NoticeSource(name=spec.name, url=spec.location, kind=spec.kind, consecutive_failures=0)
        session.add(source)
    elif (source.url, source.kind) != (spec.location, spec.kind):
        # Moved or re-typed: the old validators describe another document.
        source.url, source.kind, source.etag, source.last_modified = spec.location, spec.kind, None, None
    session.flush()
    return source


def backoff_seconds(settings: Settings, failures: int) -> float:
    """Seconds to wait after `failures` failures in a row: doubling from poll_seconds, at most an hour."""
    if failures <= 0:
        return 0.0
    return float(min(settings.notices.poll_seconds * 2 ** (failures - 1), MAX_BACKOFF_SECONDS))


def _backing_off(source: NoticeSource, settings: Settings, now: dt.datetime) -> bool:
    if not source.consecutive_failures or source.last_failure_at is None:
        return False
    # A little slack so that a poll due exactly at the end of the backoff is not skipped.
    wait = backoff_seconds(settings, source.consecutive_failures) - 1
    return now < source.last_failure_at + dt.timedelta(seconds=wait)


def _poll_one(sessions: Callable[[], Session], source_id: int, spec: SourceSpec,
              client: httpx.Client, now: dt.datetime, limits: NoticesSettings, queue: QueueUpdate) -> Outcome:
    hit = None
    try:
        with session_scope(sessions) as session:
            source = session.get_one(NoticeSource, source_id)
            return _fetch_parse_store(session, source, spec, client, now, limits, queue)
    except TooLarge as exc:  # refused within its cap; the last good state stays
        log.warning("notice source %s: %s", spec.name, exc)
        outcome, hit = Outcome(spec.name, False, str(exc)), "max_feed_bytes"
    except FetchError as exc:
        outcome = Outcome(spec.name, False, str(exc))
    except Exception as exc:  # a bug or a database error: report it, keep the other sources going
        log.exception("notice source %s", spec.name)
        outcome = Outcome(spec.name, False, f"{type(exc).__name__}: {exc}")
    with session_scope(sessions) as session:
        _record_failure(session.get_one(NoticeSource, source_id), outcome, now)
        if hit:
            runs.increment(session, "limit_hits_total", {"limit": hit})
    return outcome


def _fetch_parse_store(session: Session, source: NoticeSource, spec: SourceSpec,
                       client: httpx.Client, now: dt.datetime, limits: NoticesSettings, queue: QueueUpdate
                       ) -> Outcome:
    kind = KINDS.get(spec.kind)
    if kind is None:
        raise FetchError(f"unknown kind {spec.kind!r}; known kinds: {', '.join(KINDS)}")
    documents, validators = kind.fetch(source, spec.location, client, limits.max_feed_bytes)
    if not documents:
        source.last_success_at = now
        source.consecutive_failures = 0
        return Outcome(spec.name, True, "not modified", state="not_modified")
    result = kind.parse(documents, now)
    if result.fatal:
        outcome = Outcome(spec.name, False, result.fatal)
        _record_failure(source, outcome, now)
        return outcome
    admit(result)  # control characters removed, items with impossible times reported and left out
    notes = apply_limits(result, limits)
    for limit, text in notes:
        log.warning("notice source %s: %s", spec.name, text)
        runs.increment(session, "limit_hits_total", {"limit": limit})
    backfill = source.backfilled_at is None
    counts = _store(session, source, result, backfill, spec.components, now, limits.max_new_per_poll, queue)
    summary = counts.describe() + (" (backfill: nobody notified)" if backfill else "")
    summary += "".join(f"; {text}" for _, text in notes)
    if not result.clean:
        outcome = Outcome(spec.name, False, f"partly read: {summary}", result.problems, "partly", counts, backfill)
        _record_failure(source, outcome, now)
        return outcome
    kind.keep_validators(source, validators)
    source.last_success_at = now
    source.consecutive_failures = 0
    if backfill:
        source.backfilled_at = now
    return Outcome(spec.name, True, summary, state="stored", counts=counts, backfill=backfill)


def _store(session: Session, source: NoticeSource, result: ParseResult, backfill: bool,
           defaults: tuple[str, ...], now: dt.datetime, max_new: int, queue: QueueUpdate) -> StoreCounts:
    """Store the notices of `result` together; when the database refuses that, each on its own.

    The whole document is tried in one savepoint. If the database refuses a value in it, the
    notices are stored one savepoint each: the one refused is reported in `result.problems`
    and left out, and the others are stored (PostgreSQL would otherwise lose the whole poll).
    Either way the poll's new updates are queued, or held past `max_new`, once for the poll.
    """
    try:
        with session.begin_nested():
            return store_notices(session, source, result.notices, backfill=backfill, defaults=defaults, now=now,
                                 queue=queue, max_new=max_new)
    except DBAPIError as exc:
        log.warning("notice source %s: the database refused the document (%s); storing item by item",
                    source.name, type(exc.orig).__name__)
    total = StoreCounts()
    fresh: list[NoticeUpdate] = []
    for notice in result.notices:
        counts = StoreCounts()
        try:
            with session.begin_nested():
                stored = upsert_notices(session, source, [notice], backfill=backfill, defaults=defaults, now=now,
                                        counts=counts)
        except DBAPIError as exc:
            result.problems.append(f"{clean_text(notice.upstream_id)[:100]}: the database refused it "
                                   f"({type(exc.orig).__name__}): left out")
            continue
        fresh.extend(stored)
        for name in ("new_notices", "new_updates", "edited_updates"):
            setattr(total, name, getattr(total, name) + getattr(counts, name))
    queue_or_hold(session, fresh, total, max_new, queue)
    return total


def _record_failure(source: NoticeSource, outcome: Outcome, now: dt.datetime) -> None:
    source.last_failure_at = now
    source.last_error = clean_text("\n".join(outcome.lines()))[:4000]
    source.consecutive_failures = (source.consecutive_failures or 0) + 1


def guess_kind(location: str, client: httpx.Client) -> str:
    """The first kind in `kinds.KINDS` that recognises the content at `location` (a URL, file or folder).

    Raises `FetchError` when none does.
    """
    if is_url(location):
        content: bytes | None = fetch_url(client, location).content or b""
    else:
        path = Path(location)
        content = None if path.is_dir() else read_path(path).content or b""
    for kind in KINDS.values():
        if kind.recognises(location, content, client):
            return kind.name
    raise FetchError(f"{location}: not a kind of source this collector reads ({', '.join(KINDS)}); give --kind")


def source_spec(settings: Settings, source: str, kind: str | None = None) -> SourceSpec:
    """A source given by hand (URL or path), named by it; its kind guessed when not given.

    Raises `FetchError` when the kind must be guessed and the content is neither kind.
    """
    location = source if is_url(source) else str(Path(source).expanduser().resolve())
    if kind is None:
        with make_client(settings) as client:
            kind = guess_kind(location, client)
    return SourceSpec(source[:200], location, kind)


__all__ = ["QueueUpdate", "StoreCounts", "poll_all", "poll_sources", "configured_sources", "source_spec", "SourceSpec"]

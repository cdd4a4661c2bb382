"""Recording work in the database, so that every process reports the same numbers.

The scheduler, imports and `monitor notify` may run in other processes than the web
workers; what they did is counted here and read by the metrics collector at scrape time.

Every job records its runs through `recorded_run`: the record is started in a transaction of
its own (so a process killed mid-way leaves it "running"), and finished once, either in the
job's own data transaction (`JobRun.finish`) or, for a job that commits per file, source or
batch, in a transaction of its own after the last one (`JobRun.report`). A run left
"running" by a process that died is marked failed by the next run of the same job.

What a run did crosses into /drift, the metrics and the command line typed: its `details` as
one of the `RunDetails` shapes (stored as JSON), a run as a `RunView`, a job's recent runs as
a `JobState` (`job_states`), the last successes (`last_successes`) and the counters
(`counter_values`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, cast

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from .db import dialect_insert, session_scope, utcnow
from .models import CollectorRun, CounterValue

log = logging.getLogger(__name__)


# ---- what a run did, as codes and counts (its `details`) ---------------------------------------

class FilesDetails(TypedDict):
    """An import (`import`) or a pass over the inbox (`calls`)."""

    files: dict[str, int]  # outcome (imported, unchanged, rejected, failed) → files
    not_imported: list[str]  # the first 20 names
    errors: int  # of the inbox itself (a file that could not be moved, say)


class SourceDetails(TypedDict):
    """One notice source in a run of the notice collector."""

    name: str
    state: str  # stored | partly | not_modified | failed
    backfill: bool
    problems: int
    new_notices: int
    new_updates: int
    edited: int
    queued: int


class NoticesDetails(TypedDict):
    """A run of the notice collector (`notices`)."""

    sources: list[SourceDetails]


class NotifyDetails(TypedDict):
    """A run of the outbox (`notify`)."""

    sent: int
    retry: int
    failed: int
    cancelled: int
    error: int  # 1 when the run stopped with an error


class RatingDetails(TypedDict):
    """A rating run (`rating`)."""

    as_of: str  # the Copenhagen day rated, ISO
    revision: int
    unchanged: NotRequired[int]  # 1: the daily run found nothing new and stored no copy of `revision`


class PartitionsDetails(TypedDict):
    """A run of the partitions job (`partitions`): months as YYYY-MM."""

    made: list[str]  # the months whose partition this run made
    months: list[str]  # every month with a partition after the run


RunDetails = FilesDetails | NoticesDetails | NotifyDetails | RatingDetails | PartitionsDetails


@dataclass(frozen=True)
class RunView:
    """One recorded run as /drift shows it. `details` is None for a run that recorded none (an
    old one, or one that ended in an exception): its `message` says what happened."""

    id: int
    collector: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    outcome: str  # running | success | failure
    message: str
    details: RunDetails | None

    @classmethod
    def of(cls, run: CollectorRun) -> RunView:
        """The view of a stored run; its details as stored (JSON written from a `RunDetails`)."""
        details = cast(RunDetails, run.details) if isinstance(run.details, dict) else None
        return cls(run.id, run.collector, run.started_at, run.finished_at, run.outcome, run.message or "", details)


@dataclass(frozen=True)
class JobState:
    """A job on /drift: its newest run, its last success and failure, its runs in the last 24 hours."""

    name: str
    last: RunView | None
    success: RunView | None
    failure: RunView | None
    runs_24h: int


@dataclass(frozen=True)
class CounterReading:
    """One counter kept in the database (`increment`), with its labels."""

    metric: str
    labels: dict[str, str]
    value: float


def label_key(labels: dict[str, str]) -> str:
    """The canonical string for a label set: sorted ``name=value`` pairs joined by commas."""
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def parse_label_key(key: str) -> dict[str, str]:
    """Invert `label_key`."""
    return dict(pair.split("=", 1) for pair in key.split(",") if pair)


def increment(session: Session, metric: str, labels: dict[str, str], amount: float = 1.0) -> None:
    """Add `amount` to a counter kept in the database (created at zero when new)."""
    if amount == 0:
        return
    insert = dialect_insert(session)
    stmt = insert(CounterValue).values(metric=metric, labels=label_key(labels), value=amount)
    stmt = stmt.on_conflict_do_update(index_elements=["metric", "labels"],
                                      set_={"value": CounterValue.value + stmt.excluded.value})
    session.execute(stmt)


# A run still "running" after this long was killed with its process, wherever that ran.
STALE_RUN_HOURS = 24
MESSAGE_CHARS = 4000


def _owner() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


# Runs started by this process and not finished yet (any thread).
_active: set[int] = set()


def _interrupted(run_id: int, owner: str, started_at: dt.datetime, now: dt.datetime) -> str | None:
    """Why a run still "running" cannot be running any more, or None when it may be."""
    if now - started_at > dt.timedelta(hours=STALE_RUN_HOURS):
        return f"interrupted: still running after {STALE_RUN_HOURS} hours ({owner or 'unknown'})"
    pid_text, _, host = owner.removeprefix("pid ").partition(" on ")
    if not pid_text.isdigit() or host != socket.gethostname():
        return None  # another machine's process: only the staleness limit tells
    pid = int(pid_text)
    if pid == os.getpid():  # this process: running in another thread, or its end was never written
        return None if run_id in _active else f"interrupted: the run ({owner}) ended without recording its end"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"interrupted: the process ({owner}) ended before the run finished"
    except OSError:  # exists, owned by another user
        return None
    return None


def fail_interrupted_runs(session: Session, collector: str | None, now: dt.datetime) -> int:
    """Mark runs of `collector` (None: of every job) whose process died mid-way as failed, and count them.

    Returns how many were marked.
    """
    query = select(CollectorRun.id, CollectorRun.collector, CollectorRun.started_at, CollectorRun.message).where(
        CollectorRun.outcome == "running")
    if collector is not None:
        query = query.where(CollectorRun.collector == collector)
    failed = 0
    for run_id, name, started_at, owner in session.execute(query).all():
        reason = _interrupted(run_id, owner or "", started_at, now)
        if reason:
            failed += _close(session, run_id, name, "failure", reason, None, now)
    return failed


def start_run(session: Session, collector: str, now: dt.datetime | None = None) -> CollectorRun:
    """Record that a collector run started (in the caller's transaction); `recorded_run` is the usual way.

    Earlier runs of the collector left "running" by a process that was killed are marked
    failed first (and counted), so none stays "running" for ever.
    """
    now = now or utcnow()
    fail_interrupted_runs(session, collector, now)
    run = CollectorRun(collector=collector, started_at=now, outcome="running", message=_owner())
    session.add(run)
    session.flush()
    _active.add(run.id)
    return run


def _close(session: Session, run_id: int, collector: str, outcome: str, message: str,
           details: RunDetails | None, now: dt.datetime) -> int:
    """Finish a run still "running" and count it in ``fki_collector_runs_total``; 1 if it was, else 0.

    A run finished already (by the job's transaction, or by another process that found it
    interrupted) is left as it is and not counted twice.
    """
    done = session.execute(update(CollectorRun).where(CollectorRun.id == run_id, CollectorRun.outcome == "running")
                           .values(finished_at=now, outcome=outcome, message=message[:MESSAGE_CHARS],
                                   details=details).returning(CollectorRun.id)).first() is not None
    if done:
        increment(session, "collector_runs_total", {"collector": collector, "outcome": outcome})
    return 1 if done else 0


class JobRun:
    """A started run record of one job; `recorded_run` makes it and finishes it.

    `message` is the English line for logs and the command line; `details` holds the same as
    codes and counts (see monitor/web/pages/run_summary.py), which the service-health page words in
    the reader's language. Both times come from one clock: the job's frozen `now` when it was
    given one, else the current time.
    """

    def __init__(self, collector: str, run_id: int, started_at: dt.datetime,
                 clock: Callable[[], dt.datetime]) -> None:
        self.collector = collector
        self.id = run_id
        self.started_at = started_at
        self.clock = clock
        self.ok = True
        self.message = ""
        self.details: RunDetails | None = None

    def report(self, ok: bool, message: str = "", details: RunDetails | None = None) -> None:
        """What the run did, written when the `recorded_run` block ends (for jobs that commit in parts)."""
        self.ok, self.message, self.details = ok, message, details

    def finish(self, session: Session, ok: bool, message: str = "", details: RunDetails | None = None) -> None:
        """Finish the record in the caller's transaction: the one that writes the job's data.

        Committed with the data or rolled back with it; after a rollback the block's end
        records the failure instead.
        """
        self.report(ok, message, details)
        _close(session, self.id, self.collector, "success" if ok else "failure", message, details, self.clock())


@contextmanager
def recorded_run(sessions: sessionmaker[Session], collector: str,
                 now: dt.datetime | None = None) -> Iterator[JobRun]:
    """Record one run of the job `collector` around the block.

    The record is started (and earlier interrupted runs of the job failed) in a transaction of
    its own before the block. When the block ends, a record not yet finished by `JobRun.finish`
    is finished with what `JobRun.report` said (success when it said nothing); when the block
    raises, it is finished as a failure naming the exception, and the exception goes on.
    """
    clock: Callable[[], dt.datetime] = (lambda: now) if now is not None else utcnow
    with session_scope(sessions) as session:
        row = start_run(session, collector, clock())
        run = JobRun(collector, row.id, row.started_at, clock)
    try:
        yield run
    except BaseException as exc:
        _close_apart(sessions, run, False, f"{type(exc).__name__}: {exc}", None)
        raise
    else:
        _close_apart(sessions, run, run.ok, run.message, run.details)
    finally:
        _active.discard(run.id)  # over, even when its end could not be written


def _close_apart(sessions: sessionmaker[Session], run: JobRun, ok: bool, message: str,
                 details: RunDetails | None) -> None:
    """Finish the run in a transaction of its own; a failure to do so is logged, never raised."""
    try:
        with session_scope(sessions) as session:
            _close(session, run.id, run.collector, "success" if ok else "failure", message, details, run.clock())
    except Exception:  # the database is away: the next run of the job marks the record interrupted
        log.exception("could not record the end of a %s run", run.collector)


def finish_run(session: Session, run: CollectorRun, outcome: str, message: str = "",
               now: dt.datetime | None = None, details: RunDetails | None = None) -> None:
    """Finish a run started with `start_run`, in the caller's transaction, and count it."""
    _close(session, run.id, run.collector, outcome, message, details, now or utcnow())
    _active.discard(run.id)


# ---- reading the runs and counters ---------------------------------------------------------------

def job_states(session: Session, now: dt.datetime) -> list[JobState]:
    """Per job that ever ran (by name): its newest run, last success and last failure, and its
    runs started in the 24 hours before `now`."""
    out = []
    for name in session.scalars(select(CollectorRun.collector).distinct().order_by(CollectorRun.collector)):
        def newest(*conditions: Any, collector: str = name) -> RunView | None:
            run = session.scalars(select(CollectorRun).where(CollectorRun.collector == collector, *conditions)
                                  .order_by(CollectorRun.started_at.desc(), CollectorRun.id.desc()).limit(1)).first()
            return None if run is None else RunView.of(run)

        recent = session.scalar(select(func.count()).select_from(CollectorRun).where(
            CollectorRun.collector == name, CollectorRun.started_at >= now - dt.timedelta(hours=24))) or 0
        out.append(JobState(name, newest(), newest(CollectorRun.outcome == "success"),
                            newest(CollectorRun.outcome == "failure"), recent))
    return out


def _as_utc(t: dt.datetime | str) -> dt.datetime:
    # max() over a UTCDateTime column comes back raw (a string on SQLite, naive elsewhere).
    if isinstance(t, str):
        t = dt.datetime.fromisoformat(t)
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t


def last_successes(session: Session) -> dict[str, dt.datetime]:
    """When each job last finished a successful run (aware UTC), by job name."""
    stmt = (select(CollectorRun.collector, func.max(CollectorRun.finished_at))
            .where(CollectorRun.outcome == "success").group_by(CollectorRun.collector)
            .order_by(CollectorRun.collector))
    return {collector: _as_utc(finished) for collector, finished in session.execute(stmt) if finished is not None}


def counter_values(session: Session, metrics: Sequence[str]) -> list[CounterReading]:
    """The counters kept in the database for `metrics`, by metric and label key."""
    stmt = (select(CounterValue.metric, CounterValue.labels, CounterValue.value)
            .where(CounterValue.metric.in_(metrics)).order_by(CounterValue.metric, CounterValue.labels))
    return [CounterReading(metric, parse_label_key(labels), value) for metric, labels, value in session.execute(stmt)]

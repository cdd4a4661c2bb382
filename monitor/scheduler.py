"""The job table and the one scheduler.

One scheduler per installation runs the jobs: a database lock (a PostgreSQL advisory lock
held on a dedicated connection; on SQLite a lock row with a heartbeat) keeps any second
scheduler idle until the first dies, then it takes over. Jobs coalesce and never overlap; a
job that fails is logged, counted and runs again at its next tick.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_SUBMITTED,
    JobEvent,
)
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Connection, CursorResult, Engine, delete, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from . import runs
from .collectors.calls import columnar
from .collectors.calls.inboxwatch import InboxWatcher, Wake
from .db import engine_for, is_postgres, utcnow
from .localtime import TIMEZONE as TZ
from .models import SchedulerLock
from .settings import SchedulerSettings, Settings

log = logging.getLogger(__name__)
LOCK_NAME = "scheduler"
PG_LOCK_KEY = 0x464B4931  # "FKI1"


@dataclass(frozen=True)
class Job:
    """One row of the job table: what runs, and when."""

    id: str
    target: str  # "module:function", called as function(engine, settings); checked by `check_jobs`
    trigger: Any
    run_at_start: bool = True


def job_table(settings: Settings) -> list[Job]:
    """What runs how often."""
    hh, mm = (int(x) for x in settings.rating.daily_at.split(":"))
    jobs = [
        Job("notices", "monitor.notify.collect:poll_all", IntervalTrigger(seconds=settings.notices.poll_seconds)),
        Job("calls", "monitor.collectors.calls.importer:process_inbox",
            IntervalTrigger(seconds=settings.collectors.calls.poll_seconds)),
        Job("notify", "monitor.notify.outbox:deliver_due", IntervalTrigger(seconds=30)),
        Job("cutover-acks", "monitor.cutover.acks:end_stale_job", IntervalTrigger(minutes=1)),
        Job("cutover-reports", "monitor.notify.cutoverreport:run", IntervalTrigger(minutes=5)),
        Job("reminders", "monitor.notify.reminders:run", IntervalTrigger(minutes=1)),
        Job("calendar", "monitor.calendarplan:record", IntervalTrigger(minutes=1)),
        Job("digest", "monitor.notify.digest:run",
            CronTrigger(day_of_week=settings.digest.weekday - 1, hour=settings.digest.hour, timezone=TZ),
            run_at_start=False),
        Job("rating", "monitor.rating.service:run_daily", CronTrigger(hour=hh, minute=mm, timezone=TZ),
            run_at_start=False),
        # Today's snapshot as soon as yesterday's calls are in, so no page computes on a request.
        Job("rating-catch-up", "monitor.rating.service:catch_up", IntervalTrigger(minutes=10)),
        Job("purge", "monitor.notify.outbox:purge_unsubscribed", CronTrigger(hour=3, minute=30, timezone=TZ),
            run_at_start=False),
        Job("retention", "monitor.notify.retention:apply_retention", CronTrigger(hour=3, minute=45, timezone=TZ),
            run_at_start=False),
        # Before the 06:00 rating, after the night's files; a day's rollup does not change the rating.
        Job("hourly-retention", "monitor.collectors.calls.hourly_retention:apply_hourly_retention",
            CronTrigger(hour=4, minute=15, timezone=TZ), run_at_start=False),
        # This and next month's partitions of hourly_calls (PostgreSQL), long before a file needs them.
        Job("partitions", "monitor.partitions:ensure_ahead", CronTrigger(hour=0, minute=20, timezone=TZ)),
    ]
    if settings.demo.enabled:
        jobs += [
            Job("demo-calls", "monitor.demo_live:write_call_files",
                IntervalTrigger(minutes=settings.demo.call_file_minutes)),
            Job("demo-feed", "monitor.demo_live:update_feed", IntervalTrigger(minutes=1)),
        ]
    return jobs


def resolve(target: str) -> Callable[..., Any]:
    """Import "module:function"."""
    module, _, name = target.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function


class JobTableError(Exception):
    """A job names something that cannot run as function(engine, settings); the scheduler does not start."""


def check_jobs(jobs: list[Job]) -> None:
    """Resolve every job's target now, so a wrong name stops the start instead of failing at each tick.

    Raises `JobTableError` naming each job whose module or function is missing, or whose
    function cannot be called with (engine, settings).
    """
    problems = []
    for job in jobs:
        try:
            inspect.signature(resolve(job.target)).bind(None, None)
        except (ImportError, AttributeError, TypeError, ValueError) as exc:
            problems.append(f"job {job.id}: {job.target}: {type(exc).__name__}: {exc}")
    if problems:
        raise JobTableError("the job table names what cannot run: " + "; ".join(problems))


def run_job(job: Job, engine: Engine, settings: Settings) -> None:
    """Run one job; a failure is logged and counted, never raised into the scheduler."""
    outcome = "success"
    try:
        resolve(job.target)(engine, settings)
    except Exception:
        outcome = "failure"
        log.exception("job %s failed; it runs again at its next tick", job.id)
    try:
        with Session(engine) as session, session.begin():
            runs.increment(session, "scheduler_job_runs_total", {"job": job.id, "outcome": outcome})
    except Exception:
        log.exception("could not record the run of job %s", job.id)


def watch_inbox(sched: BackgroundScheduler, settings: Settings, job_id: str = "calls") -> InboxWatcher | None:
    """Run the inbox job as soon as a call file lands (its interval stays as the fallback poll)."""
    if sched.get_job(job_id) is None:
        return None

    def run_now() -> None:
        try:
            sched.modify_job(job_id, next_run_time=dt.datetime.now(dt.UTC))
        except Exception:  # stopping meanwhile: the next start polls the inbox at once anyway
            log.debug("could not wake the %s job", job_id, exc_info=True)

    wake = Wake(run_now)

    def listen(event: JobEvent) -> None:
        if event.job_id != job_id:
            return
        if event.code == EVENT_JOB_SUBMITTED:
            wake.pass_started()
        elif event.code == EVENT_JOB_MAX_INSTANCES:  # woken while a pass ran: one more after it
            wake.file_landed()
        else:
            wake.pass_ended()

    sched.add_listener(listen, EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    watcher = InboxWatcher(settings.path(settings.collectors.calls.inbox), wake)
    return watcher if watcher.start() else None


class Lock:
    """The installation-wide scheduler lock."""

    def __init__(self, engine: Engine, holder: str | None = None,
                 stale_after_seconds: float = SchedulerSettings.stale_after_seconds) -> None:
        self.engine = engine
        self.stale_after_seconds = stale_after_seconds
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free (or its holder stopped beating); True when held."""
        if is_postgres(self.engine):
            if self._conn is not None:
                return True  # held already (advisory locks stack: never take it twice)
            self._conn = self.engine.connect()
            got = bool(self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_LOCK_KEY}).scalar())
            self._conn.commit()
            if not got:
                self._conn.close()
                self._conn = None
            return got
        now = utcnow()
        stale = now - dt.timedelta(seconds=self.stale_after_seconds)
        with Session(self.engine) as session, session.begin():
            # Both statements are atomic on their own: two schedulers can never both win.
            # (A DML statement's result is a CursorResult; Session.execute is typed more widely.)
            taken = cast(CursorResult[Any], session.execute(sqlite_insert(SchedulerLock).values(
                name=LOCK_NAME, holder=self.holder, heartbeat_at=now).on_conflict_do_nothing())).rowcount
            if taken == 1:
                return True
            previous = session.scalar(select(SchedulerLock.holder).where(SchedulerLock.name == LOCK_NAME))
            taken = cast(CursorResult[Any], session.execute(update(SchedulerLock).where(
                SchedulerLock.name == LOCK_NAME,
                (SchedulerLock.holder == self.holder) | (SchedulerLock.heartbeat_at < stale))
                .values(holder=self.holder, heartbeat_at=now))).rowcount
        if taken == 1 and previous != self.holder:
            log.warning("scheduler lock held by %s was stale; taken over", previous)
        return taken == 1

    def heartbeat(self) -> bool:
        """Keep the lock; False when it was lost (then stop running jobs)."""
        if is_postgres(self.engine):
            try:
                assert self._conn is not None
                self._conn.execute(text("SELECT 1"))
                self._conn.commit()
                return True
            except Exception:
                log.exception("lost the connection that holds the scheduler lock")
                self._conn = None
                return False
        with Session(self.engine) as session, session.begin():
            result = cast(CursorResult[Any], session.execute(
                update(SchedulerLock).where(SchedulerLock.name == LOCK_NAME, SchedulerLock.holder == self.holder)
                .values(heartbeat_at=utcnow())))
            return result.rowcount == 1

    def release(self) -> None:
        """Give the lock up (on a clean stop)."""
        if is_postgres(self.engine):
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
                    self._conn.commit()
                    self._conn.close()
                finally:
                    self._conn = None
            return
        with Session(self.engine) as session, session.begin():
            session.execute(delete(SchedulerLock).where(SchedulerLock.name == LOCK_NAME,
                                                        SchedulerLock.holder == self.holder))


class Runner:
    """Waits for the lock, then runs the job table until stopped or the lock is lost."""

    def __init__(self, settings: Settings, engine: Engine | None = None,
                 poll_seconds: float | None = None) -> None:
        check_jobs(job_table(settings))  # before the lock: a wrong name stops this process, not the jobs
        self.settings = settings
        self.engine = engine or engine_for(settings)
        self.lock = Lock(self.engine, stale_after_seconds=settings.scheduler.stale_after_seconds)
        self.poll_seconds = poll_seconds or settings.scheduler.heartbeat_seconds
        self.stopping = threading.Event()
        self.scheduler: BackgroundScheduler | None = None
        self.watcher: InboxWatcher | None = None

    def _start_jobs(self) -> None:
        self._fail_interrupted_runs()
        sched = BackgroundScheduler(timezone=TZ, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": 300})
        now = dt.datetime.now(dt.UTC)
        for job in job_table(self.settings):
            first = {"next_run_time": now} if job.run_at_start else {}
            sched.add_job(run_job, job.trigger, args=(job, self.engine, self.settings), id=job.id, name=job.id,
                          **first)
        sched.start()
        self.scheduler = sched
        self.watcher = watch_inbox(sched, self.settings)
        # The large-file reader's library, loaded before a file arrives rather than by the first one.
        threading.Thread(target=columnar.preload, name="preload", daemon=True).start()
        log.info("scheduler running %d jobs as %s", len(sched.get_jobs()), self.lock.holder)

    def _fail_interrupted_runs(self) -> None:
        """Runs that a dead process left "running" end as failed now, not at their job's next run."""
        try:
            with Session(self.engine) as session, session.begin():
                runs.fail_interrupted_runs(session, None, utcnow())
        except Exception:
            log.exception("could not mark interrupted runs as failed")

    def _stop_jobs(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None

    def run(self) -> None:
        """Block: take the lock (waiting idle while another holds it), run jobs, keep the lock."""
        refused = 0
        while not self.stopping.is_set():
            try:
                if self.scheduler is None:
                    if self.lock.try_acquire():
                        self._start_jobs()
                    else:
                        refused += 1
                        if refused == 1:
                            log.info("another scheduler holds the lock; waiting idle")
                        log.debug("scheduler lock refused %d times", refused)
                elif not self.lock.heartbeat():
                    log.warning("scheduler lock lost; stopping jobs")
                    self._stop_jobs()
            except Exception:
                log.exception("scheduler lock check failed; retrying")
            self.stopping.wait(self.poll_seconds)
        self._stop_jobs()
        try:
            self.lock.release()
        except Exception:
            log.exception("could not release the scheduler lock")

    def running_jobs(self) -> bool:
        """True while this runner holds the lock and runs the jobs."""
        return self.scheduler is not None

    def stop(self) -> None:
        """Ask `run` to finish."""
        self.stopping.set()


class BackgroundRunner:
    """A `Runner` in a daemon thread (inside `monitor serve`)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.thread = threading.Thread(target=runner.run, name="scheduler", daemon=True)

    def start(self) -> BackgroundRunner:
        self.thread.start()
        return self

    def shutdown(self, wait: bool = False) -> None:
        self.runner.stop()
        if wait:
            self.thread.join(timeout=30)


def start_background(settings: Settings) -> BackgroundRunner:
    """Start the scheduler in one thread of this process (used by `monitor serve`)."""
    return BackgroundRunner(Runner(settings)).start()


def run_forever(settings: Settings) -> None:
    """Run the scheduler in the foreground until SIGTERM or SIGINT (`monitor scheduler`)."""
    runner = Runner(settings)

    def stop(signum: int, frame: object) -> None:
        log.info("signal %d: stopping the scheduler", signum)
        runner.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runner.run()

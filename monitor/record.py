"""Recording work in the database, so that every process reports the same numbers.

The scheduler, imports and `monitor notify` may run in other processes than the web
workers; what they did is counted here and read by the metrics collector at scrape time.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .db import is_postgres, utcnow
from .models import CollectorRun, CounterValue


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
    insert = postgresql.insert if is_postgres(session) else sqlite.insert
    stmt = insert(CounterValue).values(metric=metric, labels=label_key(labels), value=amount)
    stmt = stmt.on_conflict_do_update(index_elements=["metric", "labels"],
                                      set_={"value": CounterValue.value + stmt.excluded.value})
    session.execute(stmt)


# A run still "running" after this long on another machine was killed with its process.
STALE_RUN_HOURS = 24


def _owner() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


def _process_gone(owner: str, started_at: dt.datetime, now: dt.datetime) -> bool:
    """True when the process that started a run cannot be running it any more."""
    pid_text, _, host = owner.removeprefix("pid ").partition(" on ")
    if not pid_text.isdigit() or host != socket.gethostname():
        return now - started_at > dt.timedelta(hours=STALE_RUN_HOURS)
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # this process: a run of another thread, still going
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by another user
        return False
    return False


def fail_interrupted_runs(session: Session, collector: str, now: dt.datetime) -> int:
    """Mark runs of `collector` whose process died mid-way as failed, and count them; returns how many."""
    runs = session.execute(select(CollectorRun.id, CollectorRun.started_at, CollectorRun.message).where(
        CollectorRun.collector == collector, CollectorRun.outcome == "running")).all()
    failed = 0
    for run_id, started_at, owner in runs:
        if _process_gone(owner or "", started_at, now):
            session.execute(update(CollectorRun).where(CollectorRun.id == run_id).values(
                finished_at=now, outcome="failure",
                message=f"interrupted: the process ({owner or 'unknown'}) ended before the run finished"))
            failed += 1
    if failed:
        increment(session, "collector_runs_total", {"collector": collector, "outcome": "failure"}, failed)
    return failed


def start_run(session: Session, collector: str, now: dt.datetime | None = None) -> CollectorRun:
    """Record that a collector run started; finish it with `finish_run`.

    Earlier runs of the collector left "running" by a process that was killed are marked
    failed first (and counted), so none stays "running" for ever.
    """
    now = now or utcnow()
    fail_interrupted_runs(session, collector, now)
    run = CollectorRun(collector=collector, started_at=now, outcome="running", message=_owner())
    session.add(run)
    session.flush()
    return run


def finish_run(session: Session, run: CollectorRun, outcome: str, message: str = "",
               now: dt.datetime | None = None, details: dict[str, Any] | None = None) -> None:
    """Record the end of a run and count it in ``fki_collector_runs_total``.

    `message` is the English line for logs and the command line; `details` holds the same as
    codes and counts (see monitor/web/run_summary.py), which the service-health page words in
    the reader's language.
    """
    session.execute(update(CollectorRun).where(CollectorRun.id == run.id).values(
        finished_at=now or utcnow(), outcome=outcome, message=message[:4000], details=details))
    increment(session, "collector_runs_total", {"collector": run.collector, "outcome": outcome})

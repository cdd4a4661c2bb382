"""Keeps a loaded demo alive while the service runs.

Every few minutes the hours that have completed since the newest hourly count are written as
call files into the inbox (written to `name.tmp`, then renamed, as a real writer must), where
the real inbox collector picks them up. Each agreement calls about what it called the same
hour a week earlier; integrations that went silent after the cut-over stay silent. The demo
status feed is re-rendered so that its scripted updates appear as their time comes.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from . import demo_feed
from .localtime import CPH
from .models import HourlyCallCount, Meta
from .settings import Settings

log = logging.getLogger(__name__)
MAX_HOURS_PER_RUN = 48


def call_file_name(hour: dt.datetime) -> str:
    """The inbox file name for the hour starting at `hour` (UTC), sorting in time order."""
    return f"calls-{hour.astimezone(dt.UTC):%Y%m%dT%H}Z.csv"


def _demo(session: Session) -> dict[str, Any] | None:
    meta = session.get(Meta, "demo")
    return meta.value if meta else None


def write_call_files(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> list[Path]:
    """Write the call files for the hours completed since the newest count; returns their paths."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    inbox = settings.path(settings.collectors.calls.inbox)
    written: list[Path] = []
    with Session(engine) as session:
        demo = _demo(session)
        if demo is None:
            return written
        newest = session.scalar(select(func.max(HourlyCallCount.hour)))
        if newest is None:
            return written
        end = dt.datetime.fromisoformat(demo["cutover_end"])
        last_complete = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
        if newest < last_complete - dt.timedelta(hours=MAX_HOURS_PER_RUN):
            return written  # a demo loaded with --now in the past: it stays a picture of that time
        hour = newest + dt.timedelta(hours=1)
        came_back = set(session.scalars(select(HourlyCallCount.agreement_id).where(HourlyCallCount.hour >= end)
                                        .distinct()))
        from .models import Agreement

        uuids = dict(session.execute(select(Agreement.id, Agreement.uuid)).all())
        while hour <= last_complete:
            name = call_file_name(hour)
            if any((d / name).exists() for d in (inbox, inbox / "archive", inbox / "rejected")):
                hour += dt.timedelta(hours=1)
                continue
            week_ago = session.execute(
                select(HourlyCallCount.agreement_id, HourlyCallCount.calls, HourlyCallCount.errors)
                .where(HourlyCallCount.hour == hour - dt.timedelta(days=7))).all()
            rng = random.Random(f"{demo['seed']}-{hour.isoformat()}")
            local = hour.astimezone(CPH).isoformat()
            lines = ["period_start,agreement_uuid,calls,errors"]
            for agreement_id, calls, errors in sorted(week_ago):
                if agreement_id not in came_back and hour >= end:
                    continue  # still silent after the cut-over
                n = int(calls * (0.9 + 0.2 * rng.random()))
                e = min(n, int((errors or 0) * (0.8 + 0.4 * rng.random())))
                lines.append(f"{local},{uuids[agreement_id]},{n},{e}")
            inbox.mkdir(parents=True, exist_ok=True)
            tmp = inbox / (name + ".tmp")
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
            tmp.rename(inbox / name)
            written.append(inbox / name)
            hour += dt.timedelta(hours=1)
    if written:
        log.info("demo: wrote %d call file(s) to %s", len(written), inbox)
    return written


def update_feed(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> bool:
    """Re-render the demo status feed as of `now`; True when it changed."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    with Session(engine) as session:
        demo = _demo(session)
    if demo is None:
        return False
    every = dt.timedelta(minutes=settings.demo.feed_update_minutes)
    items = demo_feed.feed_items(dt.datetime.fromisoformat(demo["cutover_start"]),
                                 dt.datetime.fromisoformat(demo["cutover_end"]),
                                 dt.datetime.fromisoformat(demo["now"]), now, every)
    return demo_feed.write_atomically(settings.path(settings.demo.feed_path), demo_feed.render(items, now))

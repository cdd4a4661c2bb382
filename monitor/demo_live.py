"""Keeps a loaded demo alive while the service runs.

Every few minutes the hours that have completed since the newest hourly count are written as
call files into the inbox (written to `name.tmp`, then renamed, as a real writer must), where
the real inbox collector picks them up. Each agreement's hour comes from the same model the
demo was loaded with (its seed, size and time decide the plan again); integrations that went
silent after the cut-over stay silent. The demo
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

from . import demo, demo_feed
from .localtime import CPH
from .models import Agreement, HourlyCallCount, Meta
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
    """Write the call files for the hours completed since the newest count; returns their paths.

    Every agreement's hour comes from the model the demo was loaded with (`demo.hour_calls`),
    not from what was stored a week before: an agreement that happened to make no calls in
    the hours before the load is not silent for ever, and no hour copies a copy.
    """
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    inbox = settings.path(settings.collectors.calls.inbox)
    written: list[Path] = []
    with Session(engine) as session:
        meta = _demo(session)
        newest = session.scalar(select(func.max(HourlyCallCount.hour)))
        if meta is None or newest is None:
            return written
        last_complete = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
        if newest < last_complete - dt.timedelta(hours=MAX_HOURS_PER_RUN):
            return written  # a demo loaded with --now in the past: it stays a picture of that time
        p = demo.loaded_plan(session)
        if p is None:
            return written
        known = set(session.scalars(select(Agreement.uuid)))
    seed = meta["seed"]
    agreements = [a for a in p.agreements if a.uuid in known]
    hour = newest + dt.timedelta(hours=1)
    while hour <= last_complete:
        name = call_file_name(hour)
        if any((d / name).exists() for d in (inbox, inbox / "archive", inbox / "rejected")):
            hour += dt.timedelta(hours=1)
            continue
        rng = random.Random(f"{seed}-{hour.isoformat()}")
        local = hour.astimezone(CPH)
        lines = ["period_start,agreement_uuid,calls,errors"]
        for a in agreements:
            counted = demo.hour_calls(p, a, hour, local.date(), local.hour, rng)
            if counted is not None:
                lines.append(f"{local.isoformat()},{a.uuid},{counted[0]},{counted[1]}")
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

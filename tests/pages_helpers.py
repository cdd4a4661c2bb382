"""Helpers for the page tests: a small demo country with a stored rating and polled notices."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine

from monitor.demo import load_demo
from monitor.notify.collect import poll_all
from monitor.rating.service import store_snapshot, today
from monitor.settings import Settings
from tests.conftest import make_settings

PAGES = ["/", "/kommune/101", "/metode", "/tilgaengelighed", "/driftsstatus", "/driftsstatus/serviceplatformen", "/skift",
         "/drift"]
# The pages read the clock: page tests run at this time (time-machine), the hardest hour for the
# demo (the cut-over window covered all of yesterday, which has no call data).
DEMO_NOW = dt.datetime(2026, 11, 29, 4, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def demo_settings(tmp_path: Path, db_url: str) -> Settings:
    """Test settings whose notice source is the demo's own status feed."""
    feed = tmp_path / "demo-status.rss"
    return make_settings(tmp_path, db_url, notices={"sources": [{"name": "Demo", "url": str(feed), "kind": "feed"}]})


def load_demo_world(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> dt.date:
    """Load the small demo at `now` (default: the real clock, which the pages use), rate and poll."""
    now = now or dt.datetime.now(dt.UTC)
    load_demo(engine, settings, seed=1, size="small", now=now)
    as_of = today(now)
    store_snapshot(engine, settings, as_of - dt.timedelta(days=30), now=now)
    store_snapshot(engine, settings, as_of, now=now)
    poll_all(engine, settings, now=now)
    return as_of

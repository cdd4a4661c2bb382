"""The demo is believable at any hour: `monitor demo --now T` then `monitor rate --as-of <T's day>`
gives a conclusive score to at least 95 of the 98 municipalities, whatever T is.

The times are those at which method 2020.11 blanked the country (the cut-over window covered a
whole day without calls) and those around it, and the two daylight-saving days of 2026.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.localtime import CPH

TIMES = ["2026-11-29T00:30", "2026-11-29T04:00", "2026-11-29T10:30", "2026-11-29T14:30", "2026-11-29T23:30",
         "2026-03-29T04:00",  # spring forward: the day has 23 hours
         "2026-10-25T04:00"]  # fall back: the day has 25 hours


@pytest.mark.parametrize("when", TIMES)
def test_the_demo_rated_for_its_own_day_is_conclusive_for_at_least_95_municipalities(tmp_path, sqlite_url, when):
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{sqlite_url}"\n[demo]\nfeed_path = "feed.rss"\n')
    runner = CliRunner()
    loaded = runner.invoke(cli, ["--config", str(config), "demo", "--size", "small", "--seed", "3", "--now", when])
    assert loaded.exit_code == 0, loaded.output
    as_of = dt.datetime.fromisoformat(when).replace(tzinfo=CPH).date()
    rated = runner.invoke(cli, ["--config", str(config), "rate", "--as-of", as_of.isoformat(), "--json"])
    assert rated.exit_code == 0, rated.output
    doc = json.loads(rated.output)
    conclusive = [r for r in doc["ratings"] if r["score"] is not None]
    assert len(conclusive) >= 95, [(r["municipality"]["name"], r["reason_text"]) for r in doc["ratings"]
                                   if r["score"] is None][:5]
    # It is conclusive because the cut-over is a planned outage, not because the window missed it:
    # the window's last day or the one before overlaps it, and the results say so.
    planned = [d["day"] for d in doc["coverage"]["planned_outage_days"]]
    assert planned and planned[-1] >= (as_of - dt.timedelta(days=2)).isoformat()
    assert all(r["planned_outage_days"] == planned for r in doc["ratings"])
    assert doc["coverage"]["missing_days"] == []

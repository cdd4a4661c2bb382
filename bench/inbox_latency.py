"""Benchmark: from an hourly call file landing in the inbox to /skift and /metrics showing it.

The full demo is loaded into a SQLite database of its own with its clock a few hours back
(`monitor demo --now`), so the hours after its newest count are complete. `monitor serve`
then runs with its scheduler, as in production, the inbox polled every
[collectors.calls] poll_seconds (60 s, the default). For each of --files hours in turn, the
next hour's file is written the way writers must (`name.tmp`, then a rename into the inbox),
and the clock starts at the rename. /skift ("Data til og med …") and /metrics
(`fki_cutover_watermark_timestamp_seconds`) are read every 50 ms until both show the new
hour. The file's own import time is the inbox pass that imported it (its collector run);
the goal is the time to the screen at most 5 s beyond that.

    .venv/bin/python bench/inbox_latency.py [--files 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MONITOR, ROOT, free_port, machine  # noqa: E402

from monitor.bulk import storage_text  # noqa: E402

CPH = ZoneInfo("Europe/Copenhagen")
DEADLINE_SECONDS = 180.0
WATERMARK_METRIC = re.compile(rb"^fki_cutover_watermark_timestamp_seconds ([0-9.e+]+)$", re.M)
SKIFT_LINE = re.compile(r"Data til og med ([^<(]*)")


def environment(work: Path, files: int) -> dict[str, str]:
    """A demo database in `work` whose clock is `files` + 2 hours back; loaded unless it is there."""
    config = work / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{work}/monitor.db"\n[collectors.calls]\ninbox = "{work}/inbox"\n'
                      f'[mail]\noutbox_dir = "{work}/outbox"\n', encoding="utf-8")
    env = {**os.environ, "MONITOR_CONFIG": str(config), "MONITOR_SECRET_KEY": "bench"}
    env.pop("MONITOR_DATABASE_URL", None)
    if not (work / "monitor.db").exists():
        back = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=files + 2)
        t = time.perf_counter()
        subprocess.run([*MONITOR, "demo", "--size", "full", "--seed", "1", "--now", back.isoformat()], env=env,
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        print(f"demo loaded in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return env


def next_hour_file(db: Path) -> tuple[dt.datetime, str, int]:
    """The hour after the newest count, each agreement calling what it called a week earlier."""
    with sqlite3.connect(db) as conn:
        newest = dt.datetime.fromisoformat(conn.execute("SELECT max(hour) FROM hourly_calls").fetchone()[0])
        hour = newest.replace(tzinfo=dt.UTC) + dt.timedelta(hours=1)
        week_ago = storage_text(hour - dt.timedelta(days=7))
        rows = conn.execute("SELECT a.uuid, h.calls, h.errors FROM hourly_calls h JOIN agreements a "
                            "ON a.id = h.agreement_id WHERE h.hour = ? ORDER BY a.uuid", (week_ago,)).fetchall()
    local = hour.astimezone(CPH).isoformat()
    lines = ["period_start,agreement_uuid,calls,errors"] + [f"{local},{u},{c},{e if e is not None else ''}"
                                                            for u, c, e in rows]
    if not rows:
        raise SystemExit(f"no counts a week before {hour:%Y-%m-%d %H:%M} UTC to copy")
    return hour, "\n".join(lines) + "\n", len(rows)


def read(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()  # type: ignore[no-any-return]


def shown(base: str) -> tuple[str | None, float | None]:
    """The watermark as /skift shows it (its text) and as /metrics exports it (epoch seconds)."""
    page = SKIFT_LINE.search(read(base + "/skift").decode("utf-8"))
    metric = WATERMARK_METRIC.search(read(base + "/metrics"))
    return (page.group(1).strip() if page else None), (float(metric.group(1)) if metric else None)


def import_pass(db: Path, name: str) -> tuple[dt.datetime, dt.datetime]:
    """When the inbox pass that imported `name` started and ended (its collector run, UTC)."""
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT started_at, finished_at FROM collector_runs WHERE collector = 'calls' "
                           "AND message LIKE '%1 imported%' ORDER BY id DESC LIMIT 1").fetchone()
        imported = conn.execute("SELECT count(*) FROM imported_files WHERE name = ?", (name,)).fetchone()[0]
    if row is None or not imported:
        raise SystemExit(f"{name} was not imported")
    started, finished = (dt.datetime.fromisoformat(v).replace(tzinfo=dt.UTC) for v in row)
    return started, finished


def wait_for(condition: object, what: str) -> float:
    """Seconds until `condition()` is true, read every 50 ms, failing after DEADLINE_SECONDS."""
    start = time.perf_counter()
    while not condition():  # type: ignore[operator]
        if time.perf_counter() - start > DEADLINE_SECONDS:
            raise SystemExit(f"{what}: not seen within {DEADLINE_SECONDS:.0f} s")
        time.sleep(0.05)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=3, help="hourly files landed one after the other (default 3)")
    parser.add_argument("--keep", type=Path, help="keep the demo database in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        env = environment(work, args.files)
        db, inbox = work / "monitor.db", work / "inbox"
        port = free_port()
        log = (work / "serve.log").open("w", encoding="utf-8")
        server = subprocess.Popen([*MONITOR, "serve", "--port", str(port)], env=env, cwd=ROOT,
                                  stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        results = []
        try:
            wait_for(lambda: _answers(base), "monitor serve")
            with sqlite3.connect(db) as conn:  # the scheduler's first inbox pass, on the empty inbox
                wait_for(lambda: conn.execute("SELECT count(*) FROM collector_runs WHERE collector = 'calls' "
                                              "AND finished_at IS NOT NULL").fetchone()[0] > 0, "first inbox pass")
            for _ in range(args.files):
                hour, content, rows = next_hour_file(db)
                name = f"calls-{hour:%Y%m%dT%H}Z.csv"
                page_before, metric_before = shown(base)
                tmp_file = inbox / (name + ".tmp")
                tmp_file.write_text(content, encoding="utf-8")
                start = time.perf_counter()
                landed = dt.datetime.now(dt.UTC)
                os.replace(tmp_file, inbox / name)
                state: dict[str, float] = {}

                def both_show(page_before: str | None = page_before, metric_before: float | None = metric_before,
                              state: dict[str, float] = state, start: float = start) -> bool:
                    page, metric = shown(base)
                    if "page" not in state and page != page_before:
                        state["page"] = time.perf_counter() - start
                    if "metric" not in state and metric is not None and metric != metric_before:
                        state["metric"] = time.perf_counter() - start
                    return len(state) == 2

                wait_for(both_show, f"{name} on /skift and /metrics")
                started, finished = import_pass(db, name)
                took = (finished - started).total_seconds()
                woke = (started - landed).total_seconds()
                results.append((name, rows, woke, took, state["page"], state["metric"]))
                print(f"{name}: {rows:,} rows, pass started after {woke:.2f} s, import {took:.2f} s, "
                      f"/skift {state['page']:.2f} s, /metrics {state['metric']:.2f} s", file=sys.stderr)
        finally:
            server.terminate()
            server.wait(timeout=60)
            log.close()
    print(f"machine: {machine()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print()
    print("| file | rows | landed → pass starts | import (the pass) | landed → /skift | landed → /metrics "
          "| beyond the import |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, rows, woke, took, page, metric in results:
        print(f"| {name} | {rows:,} | {woke:.2f} s | {took:.2f} s | {page:.2f} s | {metric:.2f} s | "
              f"{max(page, metric) - took:.2f} s |")
    beyond = [max(page, metric) - took for _, _, _, took, page, metric in results]
    print()
    print(f"beyond the import: median {statistics.median(beyond):.2f} s, range {min(beyond):.2f}–{max(beyond):.2f} s "
          f"(goal ≤ 5 s; without the watcher a file waits for the next poll, up to 60 s)")


def _answers(base: str) -> bool:
    try:
        read(base + "/healthz")
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()

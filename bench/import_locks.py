"""Benchmark: /skift and /metrics while a catch-up import of hourly counts runs, against idle.

The full demo (`monitor demo --size full --seed 1`, rated) goes into a scratch PostgreSQL
database of its own (dropped at the end unless `--keep`). A catch-up file holds `--rows` hourly
counts of every demo agreement for the hours just before the demo's oldest hour (new months'
partitions included), the shape of a supplier's backfill after an outage. Then, against
`monitor serve --no-scheduler`:

- idle: `--rounds` rounds of GET /skift and GET /metrics, one after the other;
- during the import: the same rounds, without pause, from the moment `monitor import calls`
  starts until it has committed (it prints its report); requests after that meet the new data
  (a page computed afresh) and are not counted.

It prints each page's median, p95 and maximum latency in both phases and their ratios. An
import that locked the tables the pages read would show as a maximum near the import's own
length; what remains is the two cores shared by the import, PostgreSQL and the server.

    .venv/bin/python bench/import_locks.py [--rows 1000000] [--rounds 40] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MONITOR, ROOT, machine, serving  # noqa: E402

ADMIN = os.environ.get("MONITOR_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PAGES = ("/skift", "/metrics")


def get(url: str) -> float:
    """Seconds for one GET, body read."""
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        response.read()
    return time.perf_counter() - t


def summary(times: list[float]) -> tuple[float, float, float]:
    """Median, p95 and maximum, in seconds."""
    ordered = sorted(times)
    return statistics.median(ordered), ordered[max(0, round(0.95 * len(ordered)) - 1)], ordered[-1]


def catch_up_file(path: Path, url: str, rows: int) -> tuple[int, str, str]:
    """Write `rows` hourly counts of every agreement, for the hours before the oldest stored one."""
    engine = create_engine(url)
    with engine.connect() as conn:
        agreements = [u for (u,) in conn.execute(text("SELECT uuid FROM agreements ORDER BY id"))]
        oldest = conn.execute(text("SELECT min(hour) FROM hourly_calls")).scalar()
    engine.dispose()
    hours = -(-rows // len(agreements))
    first = oldest - dt.timedelta(hours=hours)
    written = 0
    with path.open("w") as f:
        f.write("period_start,agreement_uuid,calls,errors\n")
        for h in range(hours):
            stamp = (first + dt.timedelta(hours=h)).strftime("%Y-%m-%dT%H:00:00+00:00")
            for i, a in enumerate(agreements):
                if written == rows:
                    break
                calls = (i * 7 + h) % 500 + 3
                f.write(f"{stamp},{a},{calls},{h % 3}\n")
                written += 1
    return written, f"{first:%Y-%m-%d %H:00}", f"{oldest:%Y-%m-%d %H:00}"


def rounds(base: str, count: int) -> dict[str, list[float]]:
    """GET each page in turn, `count` rounds."""
    return {page: [get(base + page) for _ in range(count)] for page in PAGES}


LOCK_WAITS = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
              "AND wait_event_type = 'Lock'")


def rounds_during(base: str, importing: subprocess.Popen[bytes], report: Path, url: str
                  ) -> tuple[dict[str, list[tuple[float, float]]], int, int]:
    """GET each page in turn until the import has committed (its report is printed), then until it
    exits: each request's (start, seconds) before the commit, the number of requests after it (not
    counted: those are the pages computing the new data, not waiting for the import), and how
    many times a look at `pg_stat_activity` between requests found a backend waiting for a lock."""
    times: dict[str, list[tuple[float, float]]] = {p: [] for p in PAGES}
    after = waits = 0
    start = time.perf_counter()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as watcher:
        while importing.poll() is None:
            for page in PAGES:
                committed = report.stat().st_size > 0
                at = time.perf_counter() - start
                took = get(base + page)
                if committed:
                    after += 1
                else:
                    times[page].append((at, took))
                waits += int(watcher.execute(text(LOCK_WAITS)).scalar() or 0)
    engine.dispose()
    return times, after, waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    name = f"bench_import_locks_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            config = work / "config.toml"
            config.write_text(f'[database]\nurl = "{url}"\n[demo]\nfeed_path = "{work}/feed.rss"\n'
                              f'[collectors.calls]\ninbox = "{work}/inbox"\n[mail]\noutbox_dir = "{work}/outbox"\n')
            env = {**os.environ, "MONITOR_CONFIG": str(config), "MONITOR_SECRET_KEY": "bench"}
            env.pop("MONITOR_DATABASE_URL", None)
            t = time.perf_counter()
            subprocess.run([*MONITOR, "demo", "--size", "full", "--seed", "1"], env=env, check=True, cwd=ROOT,
                           stdout=subprocess.DEVNULL)
            subprocess.run([*MONITOR, "rate"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            print(f"demo (full) loaded and rated in {time.perf_counter() - t:.0f} s", file=sys.stderr)
            file = work / "catch-up.csv"
            written, first, last = catch_up_file(file, url, args.rows)
            with serving(env) as base:
                # Warm: the first request computes what later ones reuse (its time is the cold cost).
                cold = {page: get(base + page) for page in PAGES}
                idle = rounds(base, args.rounds)
                t = time.perf_counter()
                report = work / "import.txt"
                with report.open("wb") as out:
                    importing = subprocess.Popen([*MONITOR, "import", "calls", str(file)],
                                                 env={**env, "PYTHONUNBUFFERED": "1"}, cwd=ROOT,
                                                 stdout=out, stderr=subprocess.DEVNULL)
                    busy, after, waits = rounds_during(base, importing, report, url)
                took = time.perf_counter() - t
                if importing.returncode != 0:
                    sys.exit(f"the import failed ({importing.returncode}):\n{report.read_text()[-3000:]}")
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    print(f"\nmachine: {machine()}; PostgreSQL; catch-up of {written:,} hourly rows ({first} – {last} UTC), "
          f"import {took:.1f} s; {args.rounds} idle rounds, {len(busy[PAGES[0]])} rounds during the import "
          f"before its commit ({after} request(s) after it not counted); backends found waiting for a lock "
          f"during the import: {waits}; cold (first request, computing the page's documents): "
          + ", ".join(f"`{page}` {cold[page] * 1000:.0f} ms" for page in PAGES) + "\n")
    print("| page | idle median · p95 · max | during the import median · p95 · max | ratio median · p95 |")
    print("|---|---|---|---|")
    for page in PAGES:
        (im, ip, ix), (bm, bp, bx) = summary(idle[page]), summary([took for _, took in busy[page]])
        at = max(busy[page], key=lambda r: r[1])[0]
        print(f"| `{page}` | {im * 1000:.0f} · {ip * 1000:.0f} · {ix * 1000:.0f} ms "
              f"| {bm * 1000:.0f} · {bp * 1000:.0f} · {bx * 1000:.0f} ms (the slowest {at:.1f} s in) "
              f"| {bm / im:.2f}× · {bp / ip:.2f}× |")


if __name__ == "__main__":
    main()

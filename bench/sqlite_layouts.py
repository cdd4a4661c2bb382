"""Benchmark: how the layout of SQLite's `daily_calls` table sets the cost of writing and reading it.

The import's database part on SQLite is the table's B-trees: today a rowid table, its primary
key (agreement_id, day) and the day index, three B-trees for each row. This measures, in plain
`sqlite3` with no Python checks, the same year of daily counts written with
`INSERT … ON CONFLICT DO UPDATE` (as the import does) into:

- floor: a bare table, no key, no index (the import benchmark's floor);
- today: rowid table + primary key + day index;
- WITHOUT ROWID, key (agreement_id, day), with and without the day index;
- WITHOUT ROWID, key (day, agreement_id): the table is its own day index.

and the reads that depend on the layout: the rating's sum over a 90-day span grouped by
agreement, and the probe "is there any count on day d" (`missing_days`), each with and
without the planner's statistics (`ANALYZE`), which decide whether SQLite can skip-scan a key
that starts with the agreement. Layouts run in turns, --repeat times; medians are reported.

    .venv/bin/python bench/sqlite_layouts.py [--agreements 2739] [--days 365] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

COLUMNS = "agreement_id INTEGER NOT NULL, day DATE NOT NULL, calls BIGINT NOT NULL, errors BIGINT"
LAYOUTS = {
    "floor: bare table": [f"CREATE TABLE t ({COLUMNS})"],
    "today: rowid + key (agreement, day) + day index": [
        f"CREATE TABLE t ({COLUMNS}, PRIMARY KEY (agreement_id, day))", "CREATE INDEX t_day ON t (day)"],
    "WITHOUT ROWID, key (agreement, day) + day index": [
        f"CREATE TABLE t ({COLUMNS}, PRIMARY KEY (agreement_id, day)) WITHOUT ROWID", "CREATE INDEX t_day ON t (day)"],
    "WITHOUT ROWID, key (agreement, day)": [f"CREATE TABLE t ({COLUMNS}, PRIMARY KEY (agreement_id, day)) WITHOUT ROWID"],
    "WITHOUT ROWID, key (day, agreement)": [f"CREATE TABLE t ({COLUMNS}, PRIMARY KEY (day, agreement_id)) WITHOUT ROWID"],
}
UPSERT = " ON CONFLICT DO UPDATE SET calls = excluded.calls, errors = excluded.errors"


def rows(agreements: int, days: int, seed: int) -> list[tuple[int, str, int, None]]:
    rnd = random.Random(seed)
    first = dt.date(2026, 1, 1)
    # The import writes in key order (agreement, day); the day-first layout gets day order.
    return [(a, (first + dt.timedelta(d)).isoformat(), rnd.randint(0, 100_000), None)
            for a in range(1, agreements + 1) for d in range(days)]


def write(path: Path, ddl: list[str], data: list[tuple[int, str, int, None]], upsert: bool) -> float:
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    for statement in ddl:
        conn.execute(statement)
    start = time.perf_counter()
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)" + (UPSERT if upsert else ""), data)
    conn.commit()
    took = time.perf_counter() - start
    conn.close()
    return took


def reads(path: Path, last_day: str, analyzed: bool) -> tuple[float, float, str]:
    """Seconds for the 90-day sum and for probing 30 days (one of them empty), and the sum's plan."""
    conn = sqlite3.connect(path)
    conn.execute("ANALYZE" if analyzed else "DROP TABLE IF EXISTS sqlite_stat1")
    conn.commit()
    conn.close()
    conn = sqlite3.connect(path)  # a fresh connection reads the statistics (or their absence)
    end = dt.date.fromisoformat(last_day)
    span = ((end - dt.timedelta(days=89)).isoformat(), last_day)
    total = "SELECT agreement_id, sum(calls) FROM t WHERE day BETWEEN ? AND ? GROUP BY agreement_id"
    plan = "; ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + total, span))
    start = time.perf_counter()
    conn.execute(total, span).fetchall()
    summed = time.perf_counter() - start
    probe_days = [(end - dt.timedelta(days=i)).isoformat() for i in range(29)] + ["2030-01-01"]  # the last is empty
    start = time.perf_counter()
    for day in probe_days:
        conn.execute("SELECT EXISTS (SELECT 1 FROM t WHERE day = ?)", (day,)).fetchone()
    probed = time.perf_counter() - start
    conn.close()
    return summed, probed, plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agreements", type=int, default=2739)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    data = rows(args.agreements, args.days, args.seed)
    by_day = sorted(data, key=lambda r: (r[1], r[0]))
    last_day = max(r[1] for r in data)
    writes: dict[str, list[float]] = {name: [] for name in LAYOUTS}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {name: Path(tmp) / f"layout{i}.db" for i, name in enumerate(LAYOUTS)}
        for _ in range(args.repeat):
            for name, ddl in LAYOUTS.items():
                ordered = by_day if "key (day" in name else data
                writes[name].append(write(paths[name], ddl, ordered, upsert=not name.startswith("floor")))
        floor = statistics.median(writes["floor: bare table"])
        print(f"{len(data):,} daily rows ({args.agreements:,} agreements × {args.days} days); "
              f"{args.repeat} runs in turns. Machine: {machine()}\n")
        print("| layout | write (median) | × floor | each run | 90-day sum, no stats | with ANALYZE | "
              "30 day probes, no stats | with ANALYZE | plan of the sum, with ANALYZE |")
        print("|---|---:|---:|---|---:|---:|---:|---:|---|")
        for name in LAYOUTS:
            median = statistics.median(writes[name])
            runs = " · ".join(f"{w / f:.2f}" for w, f in zip(writes[name], writes["floor: bare table"], strict=True))
            bare_sum, bare_probe, _ = reads(paths[name], last_day, analyzed=False)
            stat_sum, stat_probe, plan = reads(paths[name], last_day, analyzed=True)
            print(f"| {name} | {median:.2f} s | {median / floor:.2f} | {runs} | {bare_sum * 1000:.0f} ms | "
                  f"{stat_sum * 1000:.0f} ms | {bare_probe * 1000:.1f} ms | {stat_probe * 1000:.1f} ms | {plan} |")


if __name__ == "__main__":
    main()

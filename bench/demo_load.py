"""How long `monitor demo` takes, against the floor of writing the same rows into bare tables.

    .venv/bin/python bench/demo_load.py [--size full] [--databases sqlite,postgresql] [--repeat 3]

For each database: (a) the floor — the demo's call rows, generated beforehand, written with
the same bulk path into tables without keys or indexes; (b) the whole `monitor demo` — planning,
generating, writing agreements and calls with their keys and indexes, the status feed and the
rating history. (a) and (b) run in turns, --repeat rounds (default 3), each on a fresh
database; prints the medians and the ratio of each round.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import machine, median_ratio, ratios  # noqa: E402

from monitor import demo  # noqa: E402
from monitor.bulk import bulk_insert  # noqa: E402
from monitor.db import make_engine  # noqa: E402
from monitor.migrate import reference_municipalities, upgrade  # noqa: E402
from monitor.settings import from_mapping  # noqa: E402

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
NOW = dt.datetime(2020, 11, 29, 22, 30, tzinfo=dt.UTC)


def database(kind: str, work: Path, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{work / name}.db"
    subprocess.run(["psql", f"{PG.replace('+psycopg', '')}/postgres", "-qAtc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                   check=True)
    subprocess.run(["psql", f"{PG.replace('+psycopg', '')}/postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
    return f"{PG}/{name}"


def drop(kind: str, name: str) -> None:
    """Drop a round's scratch database (PostgreSQL; SQLite's files go with the work folder)."""
    if kind != "sqlite":
        subprocess.run(["psql", f"{PG.replace('+psycopg', '')}/postgres", "-qAtc",
                        f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=True)


def floor(url: str, size: str) -> tuple[float, int]:
    """Generate the demo's call rows, then time writing them into bare tables."""
    munis = [(r["code"], r["population"]) for r in reference_municipalities()]
    plan = demo.plan(munis, 1, size, NOW)  # type: ignore[arg-type]
    daily, hourly = [], []
    for kind, row in demo.generate_calls(plan, 1, size):
        (hourly if kind == "hour" else daily).append(row)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bare_hourly (agreement_id integer, hour timestamp, day date, calls bigint, "
                          "errors bigint)"))
        conn.execute(text("CREATE TABLE bare_daily (agreement_id integer, day date, calls bigint, errors bigint)"))
    t = time.perf_counter()
    with engine.begin() as conn:
        n = bulk_insert(conn, "bare_hourly", ("agreement_id", "hour", "day", "calls", "errors"), hourly, prepared=True)
        n += bulk_insert(conn, "bare_daily", ("agreement_id", "day", "calls", "errors"), daily, prepared=True)
    took = time.perf_counter() - t
    engine.dispose()
    return took, n


def whole(url: str, size: str, work: Path) -> float:
    settings = from_mapping({"database": {"url": url}, "demo": {"feed_path": str(work / "feed.rss")}}, str(work),
                            environ={})
    engine = make_engine(url)
    upgrade(engine, settings)
    t = time.perf_counter()
    demo.load_demo(engine, settings, seed=1, size=size, now=NOW)
    took = time.perf_counter() - t
    engine.dispose()
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="full", choices=["small", "full"])
    ap.add_argument("--databases", default="sqlite,postgresql")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    print(f"Machine: {machine()}; demo --size {args.size}; {args.repeat} rounds in turns\n")
    print("| database | call rows | (a) floor: bare tables, median | (b) `monitor demo`, median | (b)/(a), median | each round |")
    print("|---|---:|---:|---:|---:|---|")
    for kind in args.databases.split(","):
        floors, wholes, rows = [], [], 0
        for round_ in range(args.repeat):
            a, rows = floor(database(kind, work, f"bench_floor_{round_}"), args.size)
            b = whole(database(kind, work, f"bench_demo_{round_}"), args.size, work)
            for name in (f"bench_floor_{round_}", f"bench_demo_{round_}"):
                drop(kind, name)
            floors.append(a)
            wholes.append(b)
            print(f"{kind} round {round_ + 1}: floor {a:.1f} s, demo {b:.1f} s", file=sys.stderr)
        print(f"| {kind} | {rows:,} | {statistics.median(floors):.1f} s | {statistics.median(wholes):.1f} s | "
              f"{median_ratio(wholes, floors):.1f}× | {ratios(wholes, floors)} |")


if __name__ == "__main__":
    main()

"""How long `monitor demo` takes, against the floor of writing the same rows into bare tables.

    .venv/bin/python bench/demo_load.py [--size full] [--databases sqlite,postgresql]

For each database: (a) the floor — the demo's call rows, generated beforehand, written with
the same bulk path into tables without keys or indexes; (b) the whole `monitor demo` — planning,
generating, writing agreements and calls with their keys and indexes, the status feed and the
rating history. Prints both and the ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"Machine: {os.cpu_count()} cores ({cpu}), load average {os.getloadavg()[0]:.1f}; demo --size {args.size}\n")
    print("| database | call rows | (a) floor: bare tables | (b) `monitor demo` | (b)/(a) |")
    print("|---|---:|---:|---:|---:|")
    for kind in args.databases.split(","):
        a, rows = floor(database(kind, work, "bench_floor"), args.size)
        b = whole(database(kind, work, "bench_demo"), args.size, work)
        print(f"| {kind} | {rows:,} | {a:.1f} s | {b:.1f} s | {b / a:.1f}× |")


if __name__ == "__main__":
    main()

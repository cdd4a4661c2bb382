"""Benchmark: importing call counts, against two baselines measured in the same run.

(a) the floor: csv.reader + executemany into a bare table, no checks at all;
(b) what a data analyst would reach for: pandas read_csv + to_sql, no checks either;
(c) `monitor import calls`: every check, the ledger, upserts into the real tables.

Each is run on SQLite and on PostgreSQL, on a daily file of --rows rows (default 1,000,000)
and on an hourly file of --hourly-rows rows (default 100,000: the whole country's day).
(c) also runs a second time with every value changed (the upsert replacing buckets).

    .venv/bin/python bench/import_calls.py [--rows N] [--hourly-rows N] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, insert, text

from monitor.collectors.importer import import_content
from monitor.db import make_engine
from monitor.migrate import upgrade
from monitor.models import Agreement, ItSystem
from monitor.settings import from_mapping

PG_ADMIN_URL = os.environ.get("MONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CODES = ["101", "147", "151", "751", "851", "461"]


def write_calls(path: Path, agreements: list[str], rows: int, hourly: bool, seed: int) -> None:
    """A calls file: every agreement for consecutive days (or hours of 27 November 2020)."""
    rng = random.Random(seed)
    per_period = len(agreements)
    start = dt.date(2020, 11, 27)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["period_start", "agreement_uuid", "calls", "errors"])
        written = 0
        period = 0
        while written < rows:
            if hourly:
                label = (dt.datetime(2020, 11, 27, tzinfo=dt.UTC) + dt.timedelta(hours=period % 24 + 24 * (
                    period // 24))).isoformat()
            else:
                label = (start - dt.timedelta(days=period)).isoformat()
            for a in agreements[:min(per_period, rows - written)]:
                calls = rng.randrange(0, 5000)
                out.writerow([label, a, calls, rng.randrange(0, calls + 1) if calls else 0])
            written += min(per_period, rows - written)
            period += 1


@contextmanager
def databases(which: list[str], tmp: Path) -> Iterator[dict[str, Callable[[], tuple[Engine, str]]]]:
    """Factories of fresh, migrated databases: (engine of the monitor schema, URL)."""
    made: list[tuple[str, Engine]] = []
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT") if "postgresql" in which else None

    def sqlite_db() -> tuple[Engine, str]:
        url = f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        engine = make_engine(url)
        upgrade(engine, from_mapping({"database": {"url": url}}, str(tmp), environ={}))
        made.append(("sqlite", engine))
        return engine, url

    def pg_db() -> tuple[Engine, str]:
        assert admin is not None
        name = f"bench_import_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        upgrade(engine, from_mapping({"database": {"url": url}}, str(tmp), environ={}))
        made.append((name, engine))
        return engine, url

    try:
        yield {"sqlite": sqlite_db, "postgresql": pg_db}
    finally:
        for name, engine in made:
            engine.dispose()
            if name != "sqlite" and admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if admin is not None:
            admin.dispose()


def add_agreements(engine: Engine, agreements: list[str]) -> None:
    """The agreements the calls are made under (setup, not measured)."""
    with engine.begin() as conn:
        conn.execute(insert(ItSystem), [{"uuid": f"sys-{i}", "name": f"System {i}"} for i in range(50)])
        conn.execute(insert(Agreement), [
            {"uuid": a, "municipality_code": CODES[i % len(CODES)], "it_system_uuid": f"sys-{i % 50}",
             "status": "active"} for i, a in enumerate(agreements)])


def floor(url: str, path: Path) -> float:
    """(a) csv.reader + executemany into a bare table, no checks."""
    start = time.perf_counter()
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE bare (period_start TEXT, agreement_uuid TEXT, calls INTEGER, errors INTEGER)")
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            next(reader)
            conn.executemany("INSERT INTO bare VALUES (?, ?, ?, ?)", reader)
        conn.commit()
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE bare")
        conn.close()
        return elapsed
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute("CREATE TABLE bare (period_start TEXT, agreement_uuid TEXT, calls BIGINT, errors BIGINT)")
        with path.open(newline="", encoding="utf-8") as fh, conn.cursor() as cur:
            reader = csv.reader(fh)
            next(reader)
            cur.executemany("INSERT INTO bare VALUES (%s, %s, %s, %s)", reader)
        conn.commit()
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE bare")
        conn.commit()
    return elapsed


def pandas_to_sql(url: str, path: Path) -> float:
    """(b) pandas read_csv + to_sql with its defaults, no checks."""
    import pandas

    engine = make_engine(url)
    start = time.perf_counter()
    frame = pandas.read_csv(path)
    frame.to_sql("bare_pandas", engine, if_exists="replace", index=False)
    elapsed = time.perf_counter() - start
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bare_pandas"))
    engine.dispose()
    return elapsed


def monitor_import(engine: Engine, path: Path) -> float:
    """(c) the real import: checks, ledger, upserts; fails loudly if the file was not imported."""
    start = time.perf_counter()
    result = import_content(engine, "calls", path.name, path.read_bytes())
    elapsed = time.perf_counter() - start
    if result.outcome != "imported" or result.held:
        raise SystemExit(f"benchmark file not imported cleanly:\n{result.report()}")
    return elapsed


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    sqlite_version = sqlite3.sqlite_version
    try:
        pg = subprocess.run(["psql", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        pg = "psql not found"
    return (f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}; Python {platform.python_version()}, "
            f"SQLite {sqlite_version}, {pg}")


def ratio(seconds: float, baseline: float | None) -> float | None:
    """`seconds` as a multiple of `baseline`, or None when there is no baseline."""
    return seconds / baseline if baseline else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the daily file (default 1,000,000)")
    parser.add_argument("--hourly-rows", type=int, default=100_000, help="rows of the hourly file (default 100,000)")
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    which = [d.strip() for d in args.databases.split(",") if d.strip()]
    rng = random.Random(args.seed)
    # About a year of days per agreement for the daily file; ~4,200 agreements (the country) hourly.
    daily_agreements = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(max(1, args.rows // 365))]
    hourly_agreements = [str(uuid.UUID(int=rng.getrandbits(128), version=4))
                         for _ in range(max(1, args.hourly_rows // 24))]
    results: list[tuple[str, str, float, float, float | None]] = []  # (file, case, s, × (a), × (b))
    with tempfile.TemporaryDirectory() as tmp_name, databases(which, Path(tmp_name)) as fresh:
        tmp = Path(tmp_name)
        files = {"daily": (tmp / "calls-daily.csv", daily_agreements, args.rows, False),
                 "hourly": (tmp / "calls-hourly.csv", hourly_agreements, args.hourly_rows, True)}
        for label, (path, agreements, rows, hourly) in files.items():
            write_calls(path, agreements, rows, hourly, args.seed)
            changed = path.with_name(path.stem + "-changed.csv")
            write_calls(changed, agreements, rows, hourly, args.seed + 1)
            for db in which:
                print(f"{label} file, {rows:,} rows, {db} …", file=sys.stderr, flush=True)
                engine, url = fresh[db]()
                add_agreements(engine, agreements)
                a = floor(url, path)
                b = pandas_to_sql(url, path) if label == "daily" else None
                c = monitor_import(engine, path)
                c2 = monitor_import(engine, changed)
                name = f"{label} {rows:,} rows"
                results.append((name, f"{db}: (a) csv.reader + executemany, bare table", a, 1.0, ratio(a, b)))
                if b is not None:
                    results.append((name, f"{db}: (b) pandas read_csv + to_sql", b, b / a, 1.0))
                results.append((name, f"{db}: (c) monitor import calls, new buckets", c, c / a, ratio(c, b)))
                results.append((name, f"{db}: (c) again, every bucket replaced", c2, c2 / a, ratio(c2, b)))
    print(f"machine: {machine()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print()
    print("| file | case | seconds | × (a) | × (b) |")
    print("|---|---|---:|---:|---:|")
    for name, case, seconds, to_a, to_b in results:
        shown_b = "" if to_b is None else f"{to_b:.2f}"
        print(f"| {name} | {case} | {seconds:.2f} | {to_a:.2f} | {shown_b} |")


if __name__ == "__main__":
    main()

"""Benchmark: importing call counts, against the floor, measured in the same run.

(a) the floor, the least a database needs to take the same rows: on SQLite csv.reader +
    executemany into a bare table, on PostgreSQL psycopg COPY of the file into a bare table;
    no checks, no keys, no indexes;
(b) (with --pandas) what a data analyst would reach for: pandas read_csv + to_sql, no checks;
(c) `monitor import calls`: every check, the ledger, the counters, the keys and the day rows
    (a daily count is its day row in `agreement_days`), into a fresh database ("new buckets"), then (c2) a second file changing every value of
    the same buckets ("every bucket replaced").

Each is run on SQLite and on PostgreSQL, on a daily file of --rows rows (default 1,000,000)
and on an hourly file of --hourly-rows rows (default 100,000: the whole country's day).
The cases run in turns, --repeat times (default 3), each (c) on a database of its own, and
the table gives the median of each: the load of a shared machine falls on all of them alike.
pyarrow, which reads large files, is loaded before the first run, as the scheduler loads it when
it starts its jobs (`columnar.preload`); a one-off `monitor import calls` pays that once more.
--options measures, on PostgreSQL, the server-side ways of writing the same checked rows into
`agreement_days`, the import's own server work among them, to set against the floor; each in
a transaction that empties the table first and is rolled back after.

    .venv/bin/python bench/import_calls.py [--rows N] [--hourly-rows N] [--repeat 3]
        [--databases sqlite,postgresql] [--pandas] [--options]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert, text

from monitor.collectors.calls.importer import import_content
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
    """(a) the same rows into a bare table, no checks: executemany on SQLite, COPY on PostgreSQL."""
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
        with path.open("rb") as fh, conn.cursor() as cur, \
                cur.copy("COPY bare FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            while block := fh.read(1 << 20):
                copy.write(block)
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


def pg_options(engine: Engine, path: Path, repeat: int) -> list[tuple[str, float]]:
    """Server-side ways of writing the same checked daily rows on PostgreSQL, each rolled back after timing."""
    from monitor.collectors.calls import columnar, loaders, records
    from monitor.collectors.calls.parsing import open_table
    from monitor.db import session_factory

    table = open_table(path.read_bytes(), records.CALLS_REQUIRED, records.CALLS_OPTIONAL)
    parsed = records.parse_calls(table)
    with session_factory(engine)() as session:
        daily, _, _ = loaders.split_counts(parsed, loaders.agreement_ids(session))
    assert isinstance(daily, loaders.DailyTable), "the file was not read by columns"
    columns = daily.table.to_pydict()
    rows = list(zip(columns["agreement_id"], columns["day"], columns["calls"], columns["errors"], strict=True))
    by_key = "".join(loaders._daily_text(rows)()).splitlines(keepends=True)
    by_day = sorted(by_key, key=lambda line: line.split("\t", 2)[1])  # the file's order: day by day
    binary = list(columnar.binary_chunks(daily.table, loaders.COPY_BINARY_CHUNK_ROWS))

    def text(lines: list[str]) -> loaders.Chunks:
        return lambda: iter(["".join(lines[i:i + loaders.COPY_CHUNK_ROWS])
                             for i in range(0, len(lines), loaders.COPY_CHUNK_ROWS)])

    cols = "agreement_id, day, calls, errors, daily"
    stage = ("CREATE TEMP TABLE stage (agreement_id integer, day date, calls bigint, errors bigint, daily boolean) "
             "ON COMMIT DROP")
    upsert = (f"INSERT INTO agreement_days ({cols}) SELECT {cols} FROM stage ON CONFLICT (day, agreement_id) "
              "DO UPDATE SET calls = EXCLUDED.calls, errors = EXCLUDED.errors, daily = EXCLUDED.daily "
              "WHERE agreement_days.calls IS DISTINCT FROM EXCLUDED.calls "
              "OR agreement_days.errors IS DISTINCT FROM EXCLUDED.errors "
              "OR agreement_days.daily IS DISTINCT FROM EXCLUDED.daily")

    def staged(copy_into: Callable[[Any, str], None], then: str) -> Callable[[Any], None]:
        def run(cur: Any) -> None:
            cur.execute(stage)
            copy_into(cur, "stage")
            cur.execute(then)
        return run

    def as_text(lines: list[str]) -> Callable[[Any, str], None]:
        return lambda cur, table: loaders._copy(cur, table, cols, text(lines))

    def as_binary(cur: Any, table: str) -> None:
        loaders._copy(cur, table, cols, lambda: iter(binary), binary=True)

    options: dict[str, Callable[[Any], None]] = {
        "staging table (text COPY) + INSERT … ON CONFLICT DO UPDATE, key order": staged(as_text(by_key), upsert),
        "staging table (binary COPY) + INSERT … ON CONFLICT DO UPDATE, key order (the import, a span that holds "
        "day rows)": staged(as_binary, upsert),
        "text COPY straight into agreement_days, file order (day by day)":
            lambda cur: as_text(by_day)(cur, "agreement_days"),
        "text COPY straight into agreement_days, key order": lambda cur: as_text(by_key)(cur, "agreement_days"),
        "binary COPY straight into agreement_days, key order (the import's server work, a span with no day rows)":
            lambda cur: as_binary(cur, "agreement_days"),
    }
    times: dict[str, list[float]] = {name: [] for name in options}
    raw = engine.raw_connection()
    try:
        for _ in range(repeat):
            for name, option in options.items():
                with raw.cursor() as cur:  # type: ignore[attr-defined]
                    # A table emptied in the same transaction: no dead rows of the options before.
                    cur.execute("TRUNCATE agreement_days")
                    start = time.perf_counter()
                    option(cur)
                    times[name].append(time.perf_counter() - start)
                raw.rollback()
    finally:
        raw.close()
    return [(name, statistics.median(t)) for name, t in times.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the daily file (default 1,000,000)")
    parser.add_argument("--hourly-rows", type=int, default=100_000, help="rows of the hourly file (default 100,000)")
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case, taken in turns (default 3)")
    parser.add_argument("--pandas", action="store_true", help="also time pandas read_csv + to_sql")
    parser.add_argument("--options", action="store_true", help="time the server-side write options (PostgreSQL)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    which = [d.strip() for d in args.databases.split(",") if d.strip()]
    from monitor.collectors.calls import columnar

    columnar.preload()  # as the scheduler does when it starts its jobs
    rng = random.Random(args.seed)
    # About a year of days per agreement for the daily file; ~4,200 agreements (the country) hourly.
    daily_agreements = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(max(1, args.rows // 365))]
    hourly_agreements = [str(uuid.UUID(int=rng.getrandbits(128), version=4))
                         for _ in range(max(1, args.hourly_rows // 24))]
    results: list[tuple[str, str, list[float], list[float]]] = []  # (file, case, runs, runs ÷ the run's floor)
    option_rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp_name, databases(which, Path(tmp_name)) as fresh:
        tmp = Path(tmp_name)
        files = {"daily": (tmp / "calls-daily.csv", daily_agreements, args.rows, False),
                 "hourly": (tmp / "calls-hourly.csv", hourly_agreements, args.hourly_rows, True)}
        for label, (path, agreements, rows, hourly) in files.items():
            write_calls(path, agreements, rows, hourly, args.seed)
            changed = path.with_name(path.stem + "-changed.csv")
            write_calls(changed, agreements, rows, hourly, args.seed + 1)
            name = f"{label} {rows:,} rows"
            for db in which:
                runs: dict[str, list[float]] = {}
                for run in range(args.repeat):
                    print(f"{name}, {db}, run {run + 1} of {args.repeat} …", file=sys.stderr, flush=True)
                    engine, url = fresh[db]()
                    add_agreements(engine, agreements)
                    a = floor(url, path)
                    timed = {"(a) floor: " + ("csv.reader + executemany" if db == "sqlite" else "psycopg COPY")
                             + ", bare table": a}
                    if args.pandas and label == "daily":
                        timed["(b) pandas read_csv + to_sql"] = pandas_to_sql(url, path)
                    timed["(c) monitor import calls, new buckets"] = monitor_import(engine, path)
                    timed["(c2) again, every bucket replaced"] = monitor_import(engine, changed)
                    if args.options and db == "postgresql" and label == "daily" and run == 0:
                        with engine.begin() as conn:
                            conn.execute(text("TRUNCATE agreement_days"))
                        option_rows = pg_options(engine, path, args.repeat)
                    engine.dispose()
                    for case, seconds in timed.items():
                        runs.setdefault(case, []).append(seconds)
                    print("  " + "; ".join(f"{case} {seconds:.2f} s ({seconds / a:.2f}×)"
                                           for case, seconds in timed.items()), file=sys.stderr, flush=True)
                    for option, seconds in option_rows if run == 0 else ():
                        print(f"  option: {option} {seconds:.2f} s", file=sys.stderr, flush=True)
                floors = runs[next(iter(runs))]
                for case, seconds in runs.items():
                    results.append((name, f"{db}: {case}", seconds,
                                    [s / f for s, f in zip(seconds, floors, strict=True)]))
    print(f"machine: {machine()}; load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print()
    print(f"| file | case | median s | × (a), median of {args.repeat} runs | × (a), each run |")
    print("|---|---|---:|---:|---|")
    for name, case, seconds, ratios in results:
        each = " · ".join(f"{r:.2f}" for r in ratios)
        print(f"| {name} | {case} | {statistics.median(seconds):.2f} | {statistics.median(ratios):.2f} | {each} |")
    if option_rows:
        print()
        print("| PostgreSQL, the daily file's checked rows into an empty agreement_days | median s |")
        print("|---|---:|")
        for option, seconds in option_rows:
            print(f"| {option} | {seconds:.2f} |")


if __name__ == "__main__":
    main()

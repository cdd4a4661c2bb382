"""Benchmark: a month, six months and a year of hourly rows on PostgreSQL, and what they cost.

The country is the full demo's (2,790 agreements × --scale; bench/rating.py's `country`), in
three scratch PostgreSQL databases, dropped afterwards. Every calling agreement has a daily
count for every day of the year before the as_of except the last two (those days are decided
by the hours), and an hourly count for every hour of the last 30 days (the month's database);
a copy of it (`CREATE DATABASE … TEMPLATE`) gets the hours back to 182 days, and a copy of that
back to 365 days (24 rows per agreement and day: at a year and scale 1, 2,659 calling
agreements × 8,760 hours ≈ 23 million rows). The rows are written by PostgreSQL itself (INSERT … SELECT over
generate_series, not through the importer), and the day table (`agreement_days`) is brought up to
date for each span added by `daytable.refresh_days`, as the demo loader and the retention do;
the bench checks that it holds one row per agreement and day of the year. After each step
`VACUUM ANALYZE`, as autovacuum would.

In turns, --repeat times — each case on the month, six months and the year one after the
other, then the next case — so that the load of a shared machine falls on the three sizes
alike (medians; the ratio of each size to the month, per run and of the medians):

  rating        what the scheduler runs every morning: `rating.service.run_daily` (gather from
                the day rows, rate, documents, store the snapshot with its run record)
  compute       the rating without storing it: `rating.service.compute` (as bench/rating.py)
  floor         the least the database must do for the rating's numbers: one GROUP BY agreement
                over the 90-day span's day rows, nothing else, with the planner's parallel workers
  floor, serial the same without parallel workers (as the rating runs its sums); the ratios
                divide by each round's faster floor
  /skift        the cut-over page, its cached document dropped first (cold)
  municipality  /kommune/751, cold: the page cache emptied first, so the page is built from the
                stored snapshot and the day rows of its chart
  /metrics      the scrape, its cached cut-over document dropped first (cold)

and, with --work-mem, the rating at each of the given `work_mem` settings (set for the
database, so every connection of the pool has it), at a year, the settings in turns.

    .venv/bin/python bench/scale.py [--scale 1] [--repeat 5] [--work-mem default,16MB,64MB] [--sizes 1|2|3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402
from rating import FLOOR, SERVICES, country  # noqa: E402

from monitor import weektable  # noqa: E402
from monitor.db import make_engine, session_factory  # noqa: E402
from monitor.localtime import CPH  # noqa: E402
from monitor.migrate import upgrade  # noqa: E402
from monitor.rating.method import Parameters, window  # noqa: E402
from monitor.rating.service import compute, run_daily  # noqa: E402
from monitor.settings import Settings, from_mapping  # noqa: E402

PG_ADMIN_URL = os.environ.get("MONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SIZES = [("1 month", 30), ("6 months", 182), ("1 year", 365)]
YEAR = 365
HOURLY_ONLY_DAYS = 2  # the newest days have hours and no daily count yet
MUNICIPALITY = "751"

# Hours of the agreements that call, from `first` (inclusive) to `last` (exclusive), UTC, naive.
HOURS = """
INSERT INTO hourly_calls (agreement_id, hour, day, calls)
SELECT a.id, h, ((h AT TIME ZONE 'UTC') AT TIME ZONE 'Europe/Copenhagen')::date,
       1 + (a.id + extract(doy FROM h)::int + extract(hour FROM h)::int) % 50
FROM bench_calling a, generate_series(CAST(:first AS timestamp), CAST(:last AS timestamp) - interval '1 hour',
                                      interval '1 hour') AS h
"""
DAILY = """
INSERT INTO agreement_days (agreement_id, day, calls, daily)
SELECT a.id, d::date, a.volume + (a.id + extract(doy FROM d)::int) % 7, true
FROM bench_calling a, generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') AS d
"""


def utc_midnight(day: dt.date) -> dt.datetime:
    """The UTC instant (naive) of `day`'s Copenhagen midnight."""
    return dt.datetime.combine(day, dt.time(), CPH).astimezone(dt.UTC).replace(tzinfo=None)


def load_country(engine: Engine, scale: float, seed: int) -> int:
    """The agreements and their daily counts; returns the number of calling agreements."""
    systems, agreements, services, calling = country(scale, seed)
    now = dt.datetime(2020, 1, 1)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO it_systems (uuid, name, supplier) VALUES (:u, :n, :s)"),
                     [{"u": u, "n": n, "s": s} for u, n, s in systems])
        conn.execute(text("INSERT INTO services (id, name) VALUES (:i, :i)"), [{"i": s} for s in SERVICES])
        conn.execute(text("INSERT INTO agreements (id, uuid, municipality_code, it_system_uuid, status, first_seen_at, "
                          "changed_at, last_seen_at) VALUES (:i, :u, :m, :s, :st, :t, :t, :t)"),
                     [{"i": i, "u": u, "m": m, "s": s, "st": st, "t": now} for i, u, m, s, st in agreements])
        conn.execute(text("INSERT INTO agreement_services (agreement_id, service_id) VALUES (:a, :s)"),
                     [{"a": a, "s": s} for a, s in services])
        conn.execute(text("CREATE TABLE bench_calling (id integer PRIMARY KEY, volume integer)"))
        volumes = [0, 3, 40, 400, 4000]
        conn.execute(text("INSERT INTO bench_calling (id, volume) VALUES (:i, :v)"),
                     [{"i": a, "v": volumes[(a * 7919) % 5]} for a in calling])
    return len(calling)


def add_days(engine: Engine, first: dt.date, last: dt.date, *, daily: bool) -> float:
    """Hours (and, with `daily`, daily counts) for the days `first`..`last`, then their day rows; seconds."""
    from monitor import daytable, partitions

    t = time.perf_counter()
    first_hour, end_hour = utc_midnight(first), utc_midnight(last + dt.timedelta(days=1))
    with session_factory(engine)() as session, session.begin():  # the months' partitions, as an importer makes them
        span = int((end_hour - first_hour).total_seconds()) // 3600
        partitions.ensure_hourly(session, [first_hour + dt.timedelta(hours=h) for h in range(0, span, 24)]
                                 + [end_hour - dt.timedelta(hours=1)])
    with engine.begin() as conn:
        # The rows come from the agreements table itself, so no row can name a missing agreement
        # (the count tables have no foreign keys since migration 0022; the triggers that mark the
        # written weeks stale must run, so no replica mode).
        if daily:
            conn.execute(text(DAILY), {"first": first, "last": last - dt.timedelta(days=HOURLY_ONLY_DAYS)})
        conn.execute(text(HOURS), {"first": first_hour, "last": end_hour})
    with session_factory(engine)() as session, session.begin():
        daytable.refresh_days(session, first, last)
        weektable.refresh(session)  # as the daily rating run does first
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("hourly_calls", "agreement_days", "agreement_weeks"):
            conn.execute(text(f"VACUUM ANALYZE {table}"))
    return time.perf_counter() - t


def check_day_table(engine: Engine, calling: int, first: dt.date, last: dt.date) -> tuple[int, int]:
    """(hourly rows, day rows); asserts one day row per calling agreement and day of the year."""
    with engine.connect() as conn:
        hourly = conn.execute(text("SELECT count(*) FROM hourly_calls")).scalar_one()
        days = conn.execute(text("SELECT count(*) FROM agreement_days WHERE day BETWEEN :f AND :l"),
                            {"f": first, "l": last}).scalar_one()
    assert days == calling * ((last - first).days + 1), (days, calling)
    return hourly, days


def cases(engine: Engine, settings: Settings, as_of: dt.date) -> dict[str, Callable[[], None]]:
    """The measured calls, by name."""
    from monitor import create_app
    from monitor.web.pages.cache import cache_of

    params = Parameters()
    window_start, end = window(as_of, params.window_days)
    recent_start, _ = window(as_of, params.redundant_after_days)
    span = {"window_start": window_start, "recent_start": recent_start, "start": min(window_start, recent_start),
            "end": end}
    now = dt.datetime.combine(as_of, dt.time(6), CPH)
    app = create_app(settings)
    client = app.test_client()

    def rating() -> None:
        run_daily(engine, settings, now)

    def compute_only() -> None:
        with session_factory(engine)() as session:
            docs, summary = compute(session, settings, as_of)
            assert len(docs) == 98 and not summary["missing_days"], summary

    def floor() -> None:
        with engine.connect() as conn:
            conn.execute(text(FLOOR), span).all()

    def floor_serial() -> None:  # without parallel workers, as the rating runs its sums
        with engine.connect() as conn:
            conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
            conn.execute(text(FLOOR), span).all()

    def get(path: str) -> Callable[[], None]:
        def cold() -> None:
            cache_of(app).clear()
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
        return cold

    return {"rating": rating, "compute": compute_only, "floor": floor, "floor, serial": floor_serial,
            "/skift": get("/skift"), "municipality": get(f"/kommune/{MUNICIPALITY}"), "/metrics": get("/metrics")}


def set_work_mem(engine: Engine, database: str, value: str) -> None:
    """`work_mem` for every new connection to `database` (the pool is emptied so that all have it)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if value == "default":
            conn.execute(text(f'ALTER DATABASE "{database}" RESET work_mem'))
        else:
            conn.execute(text(f"ALTER DATABASE \"{database}\" SET work_mem = '{value}'"))
    engine.dispose()


def clone(admin: Engine, template: str) -> str:
    """A copy of the database `template` (no one may be connected to it); returns its name."""
    name = f"bench_scale_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiple of the full demo's country (default 1)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work-mem", default="", help="e.g. default,16MB,64MB: the rating at each, at a year")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--sizes", type=int, choices=(1, 2, 3), default=3,
                        help="how many of the sizes to build: 1 the month only, 2 up to six months, 3 all (default)")
    args = parser.parse_args()
    os.environ.setdefault("MONITOR_SECRET_KEY", "bench")
    as_of = dt.datetime.now(CPH).date()
    year_first, last = as_of - dt.timedelta(days=YEAR), as_of - dt.timedelta(days=1)
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    names: list[str] = []
    built: list[tuple[str, int, int, float]] = []  # (label, hourly rows, day rows, seconds to build)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings_of: dict[str, Settings] = {}
            engines: dict[str, Engine] = {}
            covered = 0
            for label, days in SIZES[:args.sizes]:
                if names:
                    engines[names[-1]].dispose()
                    name = clone(admin, names[-1])
                else:
                    name = f"bench_scale_{uuid.uuid4().hex[:8]}"
                    with admin.connect() as conn:
                        conn.execute(text(f'CREATE DATABASE "{name}"'))
                names.append(name)
                print(f"{label}: scratch database {name}", file=sys.stderr, flush=True)
                url = admin.url.set(database=name).render_as_string(hide_password=False)
                settings_of[label] = from_mapping({"database": {"url": url}}, tmp,
                                                  environ={"MONITOR_SECRET_KEY": "bench"})
                engine = engines[name] = make_engine(url)
                t = time.perf_counter()
                if not covered:
                    upgrade(engine, settings_of[label])
                    calling = load_country(engine, args.scale, args.seed)
                    add_days_daily_only(engine, year_first, as_of - dt.timedelta(days=days + 1))
                first = as_of - dt.timedelta(days=days)
                add_days(engine, first, as_of - dt.timedelta(days=covered + 1), daily=covered == 0)
                covered = days
                hourly, day_rows = check_day_table(engine, calling, year_first, last)
                built.append((label, hourly, day_rows, time.perf_counter() - t))
                with engine.connect() as conn:  # the tables the rating reads: the same rows at every size
                    sizes = ", ".join(f"{table} {mb:.0f} MB" for table, mb in conn.execute(text(
                        "SELECT relname, pg_total_relation_size(oid) / 1e6 FROM pg_class "
                        "WHERE relname IN ('agreement_days', 'agreement_weeks') ORDER BY relname")))
                print(f"{label}: {hourly:,} hourly rows, {day_rows:,} day rows ({sizes}), built in {built[-1][3]:.0f} s",
                      file=sys.stderr, flush=True)
            labels = [label for label, _ in SIZES[:args.sizes]]
            calls = {label: cases(engines[name], settings_of[label], as_of) for label, name in zip(labels, names, strict=True)}
            times = measure_in_turns(calls, args.repeat)
            memory: dict[str, list[float]] = {}
            year_name, year_engine = names[-1], engines[names[-1]]
            values = [v for v in args.work_mem.split(",") if v]
            if values:
                ratings: dict[str, Callable[[], None]] = {}
                memory = {v: [] for v in values}
                for _ in range(args.repeat + 1):  # the first round warms up
                    for value in values:
                        set_work_mem(year_engine, year_name, value)
                        ratings.setdefault(value, cases(year_engine, settings_of[labels[-1]], as_of)["rating"])
                        t = time.perf_counter()
                        ratings[value]()
                        memory[value].append(time.perf_counter() - t)
                memory = {v: runs[1:] for v, runs in memory.items()}
                set_work_mem(year_engine, year_name, "default")
            for engine in engines.values():
                engine.dispose()
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    report(built, times, memory, calling, args)


def measure_in_turns(calls: dict[str, dict[str, Callable[[], None]]], repeat: int
                     ) -> dict[str, dict[str, list[float]]]:
    """Seconds of each run, by size and case: each case on every size in turn, after one warm-up of each."""
    for by_case in calls.values():
        for fn in by_case.values():
            fn()
    times: dict[str, dict[str, list[float]]] = {label: {case: [] for case in by_case}
                                                for label, by_case in calls.items()}
    cases_ = list(next(iter(calls.values())))
    for round_ in range(repeat):
        for case in cases_:
            for label, by_case in calls.items():
                t = time.perf_counter()
                by_case[case]()
                times[label][case].append(time.perf_counter() - t)
        print(f"round {round_ + 1}: " + "; ".join(
            f"{label} " + ", ".join(f"{c} {v[-1] * 1000:.0f}" for c, v in by_case.items())
            for label, by_case in times.items()) + " ms", file=sys.stderr, flush=True)
    return times


def add_days_daily_only(engine: Engine, first: dt.date, last: dt.date) -> float:
    """Daily counts (no hours) for `first`..`last`, then their day rows; seconds."""
    from monitor import daytable

    t = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text(DAILY), {"first": first, "last": last})
    with session_factory(engine)() as session, session.begin():
        daytable.refresh_days(session, first, last)
        weektable.refresh(session)
    return time.perf_counter() - t


def report(built: list[tuple[str, int, int, float]], times: dict[str, dict[str, list[float]]],
           memory: dict[str, list[float]], calling: int, args: argparse.Namespace) -> None:
    print(f"\nmachine: {machine()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"{calling:,} calling agreements; {args.repeat} runs of each case, the sizes in turns; medians; "
          "× the month: of the medians (each run's ratio to the month's run of the same round)\n")
    base = times[built[0][0]]
    names = list(base)
    print("| hourly rows (built in) | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for label, hourly, _days, seconds in built:
        cells = []
        for n in names:
            values, month = times[label][n], base[n]
            median = statistics.median(values)
            each = " · ".join(f"{v / m:.2f}" for v, m in zip(values, month, strict=True))
            cells.append(f"{median * 1000:.0f} ms, {median / statistics.median(month):.2f}× ({each})")
        print(f"| {label}: {hourly:,} ({seconds:.0f} s) | " + " | ".join(cells) + " |")
    print("\n| size | compute ÷ floor, median | each run | rating (stored) ÷ floor, median |")
    print("|---|---:|---|---:|")
    for label, *_ in built:
        t = times[label]
        least = [min(p, q) for p, q in zip(t["floor"], t["floor, serial"], strict=True)]  # each round's faster plan
        ratios = [c / f for c, f in zip(t["compute"], least, strict=True)]
        stored = [r / f for r, f in zip(t["rating"], least, strict=True)]
        print(f"| {label} | {statistics.median(ratios):.2f} | {' · '.join(f'{r:.2f}' for r in ratios)} | "
              f"{statistics.median(stored):.2f} |")
    if memory:
        print("\n| work_mem | rating at a year, median | each run |")
        print("|---|---:|---|")
        for value, values in memory.items():
            print(f"| {value} | {statistics.median(values) * 1000:.0f} ms | "
                  + " · ".join(f"{v * 1000:.0f}" for v in values) + " ms |")

if __name__ == "__main__":
    main()

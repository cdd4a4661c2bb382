"""Benchmark: rating all 98 municipalities on data of the demo's shape, at 1×, 2× and 4× the country.

The country is the full demo's: 2,790 agreements (× --scales), each with a daily count for
every day of a year (95 % of them call), and hourly counts for its last 14 days, about 18
hours a day (the quiet night hours have no count), beside the daily counts of those days, as
the demo has them. In the rating's 90-day span that is about 2.9 hourly rows per daily row
(the demo: 537k hourly, 187k daily). Loaded in bulk (executemany / COPY), with the day rows
(`agreement_days`) made from them as the demo loader makes them, then timed:

  rating   the real thing: queries.gather + rate_all + the documents, nothing stored
  floor    the least the database must do for the same numbers: one GROUP BY agreement over
           the span's day rows (one per agreement and day: the daily count, else the hours' sum).
           On PostgreSQL it runs twice, with the planner's parallel workers and without them
           (as the rating runs its sums), and each round's floor is the faster of the two
  own aggregate  the rating's own sums query alone (`queries.call_sums`: the span's whole weeks
           from `agreement_weeks`, the other days from `agreement_days`), so that rating − own
           aggregate is the rating's work beyond its query; shown beside the floor, not instead of it
  pandas   (--pandas) the daily rows read into pandas, then a groupby

The cases run in turns, --repeat times, and each figure is the median (the machines are
shared and noisy); the ratio is given for each run too. The goal: rating within 1.3× of the
floor, its cost growing with the rows (the seconds per million rows in the span the same at
every scale, ±15 %).

    python bench/rating.py                     # both databases, 1×, 2×, 4×
    python bench/rating.py --scales 1 --db sqlite
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from monitor import daytable, partitions, weektable
from monitor.bulk import storage_text
from monitor.db import make_engine, session_factory
from monitor.migrate import upgrade
from monitor.rating.method import Parameters, window
from monitor.rating.queries import call_sums
from monitor.rating.service import compute
from monitor.settings import Settings, from_mapping

AS_OF = dt.date(2020, 11, 28)
DAYS = 365
HOURLY_DAYS = 14
COUNTRY_AGREEMENTS = 2_790  # the full demo
SERVICES = [f"SF{1500 + i}" for i in range(20)]
PG_ADMIN_URL = os.environ.get("MONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

FLOOR = """
SELECT agreement_id,
       SUM(CASE WHEN day >= :window_start THEN calls ELSE 0 END),
       SUM(CASE WHEN day >= :recent_start THEN calls ELSE 0 END)
FROM agreement_days WHERE day BETWEEN :start AND :end GROUP BY agreement_id
"""
PANDAS_SQL = "SELECT agreement_id, day, calls FROM agreement_days WHERE day BETWEEN :start AND :end"


def country(scale: float, seed: int) -> tuple[list[tuple], list[tuple], list[tuple], list[int]]:
    """IT systems, agreements (in proportion to population), their services, and the calling ones."""
    rng = random.Random(seed)
    from monitor.migrate import reference_municipalities

    municipalities = reference_municipalities()
    people = sum(int(m["population"]) for m in municipalities)  # type: ignore[misc]
    n_agreements = round(COUNTRY_AGREEMENTS * scale)
    systems, agreements, services, calling = [], [], [], []
    for m in municipalities:
        share = max(1, round(n_agreements * int(m["population"]) / people))  # type: ignore[call-overload]
        own_systems = [f"{m['code']}-sys-{i}" for i in range(max(1, share // 6))]
        systems += [(s, f"System {s}", f"Leverandør {i % 12}") for i, s in enumerate(own_systems)]
        for _ in range(share):
            agreement_id = len(agreements) + 1
            status = "active" if rng.random() < 0.9 else rng.choice(["pending", "inactive", "rejected"])
            agreements.append((agreement_id, str(uuid.UUID(int=rng.getrandbits(128))), m["code"],
                               rng.choice(own_systems), status))
            for service in rng.sample(SERVICES, rng.randint(1, 3)):
                services.append((agreement_id, service))
            if rng.random() < 0.95:  # the rest never call: redundant
                calling.append(agreement_id)
    return systems, agreements, services, calling


def daily_rows(calling: list[int], seed: int) -> Iterator[tuple[int, dt.date, int]]:
    """Day by day (as daily files arrive), a count for every calling agreement."""
    rng = random.Random(seed + 1)
    volume = {a: rng.choice([0, 3, 40, 400, 4000]) for a in calling}
    for d in range(DAYS, 0, -1):
        day = AS_OF - dt.timedelta(days=d)
        for a in calling:
            yield a, day, volume[a] + (a + d) % 7


def hourly_rows(calling: list[int]) -> Iterator[tuple[int, dt.datetime, dt.date, int]]:
    """Hour by hour over the last HOURLY_DAYS days: (agreement, UTC hour, Copenhagen day, calls).

    Quiet night hours have no count (5 or 6 of 24, as in the demo's shape), so about 18 a day.
    """
    for d in range(HOURLY_DAYS, 0, -1):
        day = AS_OF - dt.timedelta(days=d)
        midnight = dt.datetime.combine(day, dt.time(), dt.UTC) - dt.timedelta(hours=1)  # Copenhagen, winter
        for h in range(24):
            hour = midnight + dt.timedelta(hours=h)
            for a in calling:
                if h < 5 or (h == 5 and a % 2):
                    continue
                yield a, hour, day, 1 + (a + d + h) % 50


COVERING = ("CREATE INDEX bench_daily_covering ON agreement_days (day, agreement_id, calls)",
            "CREATE INDEX bench_hourly_covering ON hourly_calls (day, agreement_id, calls)")


def load(engine: Engine, scale: float, seed: int, covering: bool = False) -> tuple[float, int]:
    """Load the country and its call counts in bulk; (seconds it took, agreements)."""
    systems, agreements, services, calling = country(scale, seed)
    if engine.dialect.name == "postgresql":  # the partitions of the (under a month of) hours, before the COPY
        first = dt.datetime.combine(AS_OF - dt.timedelta(days=HOURLY_DAYS), dt.time(), dt.UTC) - dt.timedelta(hours=1)
        last = dt.datetime.combine(AS_OF, dt.time(), dt.UTC)
        with engine.begin() as conn:
            for month in sorted(partitions.months_of([first, last])):
                partitions.create(conn, month)
    t0 = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        postgres = engine.dialect.name == "postgresql"
        mark = "%s" if postgres else "?"
        now = dt.datetime(2020, 11, 1)

        def many(sql: str, values: list[tuple]) -> None:
            cur.executemany(sql.replace("?", mark), values)

        many("INSERT INTO it_systems (uuid, name, supplier) VALUES (?, ?, ?)", systems)
        many("INSERT INTO services (id, name) VALUES (?, ?)", [(s, s) for s in SERVICES])
        many("INSERT INTO agreements (id, uuid, municipality_code, it_system_uuid, status, first_seen_at, "
             "changed_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
             [(*a, now, now, now) for a in agreements])
        many("INSERT INTO agreement_services (agreement_id, service_id) VALUES (?, ?)", services)
        if postgres:
            # A daily count is its day row (`daily`), as the import writes it.
            with cur.copy("COPY agreement_days (agreement_id, day, calls, daily) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in daily_rows(calling, seed):
                    copy.write_row((*row, True))
            with cur.copy("COPY hourly_calls (agreement_id, hour, day, calls) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for a, hour, day, calls in hourly_rows(calling):
                    copy.write_row((a, hour.replace(tzinfo=None), day, calls))
        else:
            for sql, rows in (("INSERT INTO agreement_days (agreement_id, day, calls, daily) VALUES (?, ?, ?, 1)",
                               ((a, day.isoformat(), c) for a, day, c in daily_rows(calling, seed))),
                              ("INSERT INTO hourly_calls (agreement_id, hour, day, calls) VALUES (?, ?, ?, ?)",
                               ((a, storage_text(h), day.isoformat(), c) for a, h, day, c in hourly_rows(calling)))):
                batch: list[tuple] = []
                for row in rows:
                    batch.append(row)
                    if len(batch) == 200_000:
                        many(sql, batch)
                        batch.clear()
                many(sql, batch)
        raw.commit()
        with session_factory(engine)() as session, session.begin():
            daytable.refresh_days(session)
            weektable.refresh(session)  # as the daily rating run does before it rates
        for sql in COVERING if covering else ():  # an option measured, not the schema
            cur.execute(sql)
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    if engine.dialect.name == "postgresql":  # as autovacuum would: the visibility map for index-only scans
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE hourly_calls"))
            conn.execute(text("VACUUM ANALYZE agreement_days"))
    return time.perf_counter() - t0, len(agreements)


def measure(engine: Engine, settings: Settings, repeat: int, with_pandas: bool) -> dict[str, list[float]]:
    """Seconds of each run of the rating, the floor and (optionally) pandas, taken in turns."""
    params = Parameters()
    window_start, end = window(AS_OF, params.window_days)
    recent_start, _ = window(AS_OF, params.redundant_after_days)
    span = {"window_start": window_start, "recent_start": recent_start, "start": min(window_start, recent_start),
            "end": end}
    factory = session_factory(engine)

    def rating() -> None:
        with factory() as session:
            docs, summary = compute(session, settings, AS_OF)
            assert len(docs) == 98 and not summary["missing_days"], summary

    def floor() -> None:
        with engine.connect() as conn:
            conn.execute(text(FLOOR), span).all()

    def floor_serial() -> None:  # PostgreSQL: the same without parallel workers
        with engine.connect() as conn:
            conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
            conn.execute(text(FLOOR), span).all()

    def own_aggregate() -> None:  # the rating's own sums query alone, to show the Python work beside it
        with factory() as session:
            call_sums(session, AS_OF, params)

    def pandas() -> None:
        import pandas as pd  # imported here: the rating is measured in a process without it, as served

        with engine.connect() as conn:
            frame = pd.read_sql(text(PANDAS_SQL), conn, params={"start": span["start"], "end": end})
        frame["day"] = pd.to_datetime(frame["day"])
        frame["in_window"] = frame["calls"].where(frame["day"] >= pd.Timestamp(window_start), 0)
        frame["recent"] = frame["calls"].where(frame["day"] >= pd.Timestamp(recent_start), 0)
        frame.groupby("agreement_id")[["in_window", "recent"]].sum()

    cases: dict[str, Callable[[], None]] = {"rating": rating, "floor": floor, "own aggregate": own_aggregate}
    if engine.dialect.name == "postgresql":
        cases["floor, serial"] = floor_serial
    if with_pandas:
        cases["pandas"] = pandas
    for fn in cases.values():  # warm the caches alike for all
        fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    if "floor, serial" in times:  # each round's floor: the faster plan
        times["floor, parallel"] = times["floor"]
        times["floor"] = [min(p, q) for p, q in zip(times["floor, parallel"], times["floor, serial"], strict=True)]
    return times


def span_rows(engine: Engine) -> tuple[int, int]:
    """Daily and hourly rows in the rating's 90-day span."""
    params = Parameters()
    start = min(window(AS_OF, params.window_days)[0], window(AS_OF, params.redundant_after_days)[0])
    end = window(AS_OF, params.window_days)[1]
    with engine.connect() as conn:
        return tuple(conn.execute(text(f"SELECT count(*) FROM {t} WHERE day BETWEEN :s AND :e"),  # type: ignore[return-value]
                                  {"s": start, "e": end}).scalar_one() for t in ("daily_calls", "hourly_calls"))


Row = tuple[str, float, int, int, int, dict[str, list[float]]]


def run(name: str, url: str, scale: float, seed: int, repeat: int, with_pandas: bool, workdir: Path,
        covering: bool = False) -> Row:
    engine = make_engine(url)
    settings = from_mapping({"database": {"url": url}}, str(workdir), environ={})
    upgrade(engine, settings)
    loaded, agreements = load(engine, scale, seed, covering)
    # The load's connections go: on PostgreSQL the one that ran the day rows' upsert stays slower
    # for every query after it, and with two connections pooled the cases took them in turns, so
    # every other round timed the rating on it and the floor on the other (see docs/performance.md,
    # "Rating"). A fresh pool: the cases then run one after the other on one connection.
    engine.dispose()
    daily, hourly = span_rows(engine)
    times = measure(engine, settings, repeat, with_pandas)
    engine.dispose()
    ratios = [r / f for r, f in zip(times["rating"], times["floor"], strict=True)]
    print(f"{name} {scale:g}×: {agreements:,} agreements, span {daily:,} daily + {hourly:,} hourly rows, "
          f"loaded in {loaded:.0f} s; rating {statistics.median(times['rating']):.3f} s, floor "
          f"{statistics.median(times['floor']):.3f} s"
          + (f" (parallel {statistics.median(times['floor, parallel']):.3f} s, serial "
             f"{statistics.median(times['floor, serial']):.3f} s)" if "floor, serial" in times else "")
          + f", own aggregate {statistics.median(times['own aggregate']):.3f} s, "
          f"ratios {' · '.join(f'{r:.2f}' for r in ratios)}",
          file=sys.stderr, flush=True)
    return name, scale, agreements, daily, hourly, times


def database(name: str, workdir: Path, scale: float) -> Iterator[str]:
    """A fresh database's URL for one scale (dropped afterwards on PostgreSQL)."""
    if name == "SQLite":
        yield f"sqlite:///{workdir / f'bench-{scale:g}.db'}"
        return
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    db = f"bench_rating_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    try:
        yield admin.url.set(database=db).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1,2,4", help="multiples of the full demo's country (default 1,2,4)")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each case, taken in turns (default 5)")
    parser.add_argument("--pandas", action="store_true", help="also time pandas read_sql + groupby (daily rows)")
    parser.add_argument("--covering", action="store_true",
                        help="measure with covering (day, agreement_id, calls) indexes added after the load")
    parser.add_argument("--seed", type=int, default=2020)
    args = parser.parse_args()
    scales = [float(x) for x in args.scales.split(",")]
    names = {"sqlite": ["SQLite"], "postgresql": ["PostgreSQL"], "both": ["SQLite", "PostgreSQL"]}[args.db]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            for scale in scales:
                for url in database(name, Path(tmp), scale):
                    rows.append(run(name, url, scale, args.seed, args.repeat, args.pandas, Path(tmp), args.covering))
    load_avg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average {load_avg}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print()
    print(f"| database | scale | agreements | span rows: daily + hourly | rating | floor | own aggregate | "
          f"rating / floor, median of {args.repeat} | each run | rating s per M rows |" + (" pandas |" if args.pandas else ""))
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|" + ("---:|" if args.pandas else ""))
    for name, scale, agreements, daily, hourly, times in rows:
        rating, floor = statistics.median(times["rating"]), statistics.median(times["floor"])
        ratios = [r / f for r, f in zip(times["rating"], times["floor"], strict=True)]
        per_m = rating / ((daily + hourly) / 1e6)
        extra = f" {statistics.median(times['pandas']):.3f} s |" if args.pandas else ""
        own = statistics.median(times["own aggregate"])
        print(f"| {name} | {scale:g}× | {agreements:,} | {daily:,} + {hourly:,} | {rating:.3f} s | {floor:.3f} s | "
              f"{own:.3f} s | {statistics.median(ratios):.2f} | {' · '.join(f'{r:.2f}' for r in ratios)} | {per_m:.3f} |{extra}")


if __name__ == "__main__":
    main()

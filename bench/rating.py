"""Benchmark: rating all 98 municipalities over a year of daily call counts.

Generates a country (~30,000 agreements, a year of daily counts: ≥ 10 million rows by
default) on SQLite and PostgreSQL, loaded in bulk (executemany / COPY), then times

  rating   the real thing: queries.gather + rate_all + the documents, nothing stored
  floor    one hand-written GROUP BY over the same rows (the calls per agreement in the
           window and in the redundancy period) — what the database cannot do faster
  pandas   the same rows read from the database into pandas, then a groupby

and prints the ratios. The goal: rating within 1.5× of the floor and ahead of pandas.
Each timing is the best of --repeat runs (the machines are shared and noisy).

    python bench/rating.py                 # both databases, 11 million rows
    python bench/rating.py --rows 200000   # a quick try
    python bench/rating.py --db sqlite
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from monitor.db import make_engine, session_factory
from monitor.migrate import upgrade
from monitor.rating.method import Parameters, window
from monitor.rating.service import compute
from monitor.settings import Settings, from_mapping

AS_OF = dt.date(2020, 11, 28)
DAYS = 365
SERVICES = [f"SF{1500 + i}" for i in range(20)]
PG_ADMIN_URL = os.environ.get("MONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

FLOOR_SQL = """
SELECT agreement_id,
       SUM(CASE WHEN day >= :window_start THEN calls ELSE 0 END),
       SUM(CASE WHEN day >= :recent_start THEN calls ELSE 0 END)
FROM daily_calls WHERE day BETWEEN :start AND :end GROUP BY agreement_id
"""
PANDAS_SQL = "SELECT agreement_id, day, calls FROM daily_calls WHERE day BETWEEN :start AND :end"


def country(rows: int, seed: int) -> tuple[list[tuple], list[tuple], list[tuple], list[int]]:
    """IT systems, agreements (in proportion to population), their services, and the calling ones."""
    rng = random.Random(seed)
    from monitor.migrate import reference_municipalities

    municipalities = reference_municipalities()
    people = sum(int(m["population"]) for m in municipalities)  # type: ignore[misc]
    n_agreements = max(98, round(rows / (DAYS * 0.95)))
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


def load(engine: Engine, rows: int, seed: int) -> float:
    """Load the country and its call counts in bulk; returns the seconds it took."""
    systems, agreements, services, calling = country(rows, seed)
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
        generated = daily_rows(calling, seed)
        if postgres:
            with cur.copy("COPY daily_calls (agreement_id, day, calls) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in generated:
                    copy.write_row(row)
        else:
            batch: list[tuple] = []
            for a, day, calls in generated:
                batch.append((a, day.isoformat(), calls))
                if len(batch) == 200_000:
                    many("INSERT INTO daily_calls (agreement_id, day, calls) VALUES (?, ?, ?)", batch)
                    batch.clear()
            many("INSERT INTO daily_calls (agreement_id, day, calls) VALUES (?, ?, ?)", batch)
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - t0


def best(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(engine: Engine, settings: Settings, repeat: int) -> dict[str, float]:
    """Seconds for the rating, the floor query and pandas, each the best of `repeat`."""
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
            conn.execute(text(FLOOR_SQL), span).all()

    def with_pandas() -> None:
        import pandas as pd  # imported here: the rating is measured in a process without it, as served

        with engine.connect() as conn:
            frame = pd.read_sql(text(PANDAS_SQL), conn, params={"start": span["start"], "end": end})
        frame["day"] = pd.to_datetime(frame["day"])
        frame["in_window"] = frame["calls"].where(frame["day"] >= pd.Timestamp(window_start), 0)
        frame["recent"] = frame["calls"].where(frame["day"] >= pd.Timestamp(recent_start), 0)
        frame.groupby("agreement_id")[["in_window", "recent"]].sum()

    rating()  # warm the caches alike for all three
    return {"rating": best(repeat, rating), "floor": best(repeat, floor), "pandas": best(repeat, with_pandas)}


def run(name: str, url: str, rows: int, seed: int, repeat: int, workdir: Path) -> None:
    engine = make_engine(url)
    settings = from_mapping({"database": {"url": url}}, str(workdir), environ={})
    upgrade(engine, settings)
    loaded = load(engine, rows, seed)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM daily_calls")).scalar_one()
        agreements = conn.execute(text("SELECT count(*) FROM agreements")).scalar_one()
    t = measure(engine, settings, repeat)
    engine.dispose()
    print(f"{name}: {count:,} daily rows, {agreements:,} agreements, loaded in {loaded:.0f} s")
    print(f"  rating {t['rating']:.3f} s · floor {t['floor']:.3f} s · pandas {t['pandas']:.3f} s")
    print(f"  rating / floor = {t['rating'] / t['floor']:.2f}   pandas / rating = {t['pandas'] / t['rating']:.2f}")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=11_000_000, help="about this many daily call rows")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2020)
    args = parser.parse_args()
    print(f"{platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.db in ("sqlite", "both"):
            run("SQLite", f"sqlite:///{workdir / 'bench.db'}", args.rows, args.seed, args.repeat, workdir)
        if args.db in ("postgresql", "both"):
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            name = f"bench_rating_{uuid.uuid4().hex[:8]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                url = admin.url.set(database=name).render_as_string(hide_password=False)
                run("PostgreSQL", url, args.rows, args.seed, args.repeat, workdir)
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


if __name__ == "__main__":
    main()

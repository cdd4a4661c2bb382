"""The count tables hold together without foreign keys: agreements are never deleted (a trigger
refuses it, the demo's reload excepted), `monitor db check` finds no orphan after imports and
finds a planted one, hourly_calls is partitioned by month on PostgreSQL with each month made
before its rows arrive, and a large import takes no exclusive lock on a table that pages read."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError

from monitor import integrity, partitions
from monitor.collectors.calls import loaders
from monitor.db import session_factory
from monitor.models import AGREEMENTS_DELETABLE
from tests.import_helpers import A1, A2, AGREEMENTS, load, rows

HEADER = "period_start,agreement_uuid,calls,errors\n"


@pytest.fixture
def agreements(engine, now):  # type: ignore[no-untyped-def]
    assert load(engine, "agreements", AGREEMENTS, now).outcome == "imported"
    return engine


def orphans(engine: Engine) -> dict[str, int]:
    with session_factory(engine)() as session:
        return {f.kind: f.count for f in integrity.check(session) if f.kind.endswith("_without_agreement")}


# --- agreements are never deleted -------------------------------------------------------------

def test_deleting_an_agreement_is_refused_and_changes_nothing(agreements):
    with pytest.raises(DatabaseError, match="agreements are never deleted"), agreements.begin() as conn:
        conn.execute(text("DELETE FROM agreements WHERE uuid = :u"), {"u": A1})
    assert len(rows(agreements, "SELECT id FROM agreements")) == 2


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_truncating_the_agreements_is_refused_on_postgresql(agreements):
    with pytest.raises(DatabaseError, match="agreements are never deleted"), agreements.begin() as conn:
        conn.execute(text("TRUNCATE agreements CASCADE"))
    assert len(rows(agreements, "SELECT id FROM agreements")) == 2


def test_a_transaction_holding_the_meta_row_may_delete_agreements_as_the_demo_does(agreements):
    with agreements.begin() as conn:
        conn.execute(text("INSERT INTO meta (key, value) VALUES (:k, 'true')"), {"k": AGREEMENTS_DELETABLE})
        conn.execute(text("DELETE FROM agreement_services"))
        conn.execute(text("DELETE FROM agreement_events"))
        conn.execute(text("DELETE FROM agreements"))
        conn.execute(text("DELETE FROM meta WHERE key = :k"), {"k": AGREEMENTS_DELETABLE})
    assert rows(agreements, "SELECT id FROM agreements") == []
    assert load(agreements, "agreements", AGREEMENTS.replace("aaaaaaaa", "bbbbbbbb")).outcome == "imported"
    with pytest.raises(DatabaseError, match="agreements are never deleted"), agreements.begin() as conn:
        conn.execute(text("DELETE FROM agreements"))  # the row went with its transaction: refused as before


# --- db check ---------------------------------------------------------------------------------

def test_db_check_finds_no_orphan_after_imports_and_finds_a_planted_one(agreements, now):
    hours = "".join(f"2020-11-27T{h:02d}:00:00+00:00,{a},{h},0\n" for h in range(24) for a in (A1, A2))
    days = "".join(f"2020-11-{d:02d},{a},{d},0\n" for d in range(1, 27) for a in (A1, A2))
    assert load(agreements, "calls", HEADER + hours + days, now).outcome == "imported"
    assert orphans(agreements) == {"daily_calls_without_agreement": 0, "hourly_calls_without_agreement": 0,
                                   "agreement_services_without_agreement": 0,
                                   "agreement_events_without_agreement": 0}
    with agreements.begin() as conn:  # without a foreign key nothing stops a hand-written row
        conn.execute(text("INSERT INTO hourly_calls (agreement_id, hour, day, calls, errors) "
                          "VALUES (987654, '2020-11-27 05:00:00', '2020-11-27', 1, 0)"))
    assert orphans(agreements)["hourly_calls_without_agreement"] == 1
    assert orphans(agreements)["daily_calls_without_agreement"] == 0


# --- monthly partitions -------------------------------------------------------------------------

def pg_partitions(engine: Engine) -> list[str]:
    return sorted(r[0] for r in rows(engine, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                             "WHERE i.inhparent = 'hourly_calls'::regclass"))


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_an_import_makes_the_months_it_writes_and_no_default_partition(agreements, now):
    assert rows(agreements, "SELECT relkind FROM pg_class WHERE relname = 'hourly_calls'") == [("p",)]
    assert pg_partitions(agreements) == []
    hours = "".join(f"2020-{m:02d}-10T05:00:00+00:00,{A1},3,0\n" for m in (9, 11))
    assert load(agreements, "calls", HEADER + hours, now).outcome == "imported"
    assert pg_partitions(agreements) == ["hourly_calls_2020_09", "hourly_calls_2020_11"]
    assert rows(agreements, "SELECT count(*) FROM hourly_calls_2020_09") == [(1,)]
    bounds = rows(agreements, "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'hourly_calls_2020_11'")
    assert bounds == [("FOR VALUES FROM ('2020-11-01 00:00:00') TO ('2020-12-01 00:00:00')",)]
    # A month nobody made: refused, never parked in a default partition.
    with pytest.raises(DatabaseError, match="no partition"), agreements.begin() as conn:
        conn.execute(text("INSERT INTO hourly_calls VALUES (1, '2020-07-01 00:00:00', '2020-07-01', 1, 0)"))


def test_the_months_of_hours_and_their_bounds():
    month = partitions.Month.of(dt.datetime(2020, 12, 31, 23, tzinfo=dt.UTC))
    assert (month.name, month.start, month.end) == ("hourly_calls_2020_12", dt.datetime(2020, 12, 1),
                                                    dt.datetime(2021, 1, 1))
    cph = dt.timezone(dt.timedelta(hours=1))
    assert partitions.Month.of(dt.datetime(2021, 1, 1, 0, tzinfo=cph)) == month  # 23:00 UTC on 31 December


# --- an import locks no reader out ---------------------------------------------------------------

def agreements_file(n: int) -> str:
    lines = ["agreement_uuid,municipality_code,it_system_uuid,it_system_name,service,service_name,supplier,status"]
    lines += [f"{uuid.UUID(int=i, version=4)},101,5e000000-0000-4000-8000-000000000001,Sag,SF1520,CPR,KMD,active"
              for i in range(1, n + 1)]
    return "\n".join(lines) + "\n"


def hourly_file(agreements: int, hours: int, start: dt.datetime) -> bytes:
    lines = [HEADER]
    for h in range(hours):
        hour = (start + dt.timedelta(hours=h)).isoformat()
        lines += [f"{hour},{uuid.UUID(int=i, version=4)},{i + h},0\n" for i in range(1, agreements + 1)]
    return "".join(lines).encode()


READ_TABLES = ("agreements", "daily_calls", "hourly_calls", "agreement_days", "held_calls", "imported_files",
               "municipalities", "it_systems", "agreement_services", "rating_results")
EXCLUSIVE = ("SELECT c.oid, c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
             "WHERE l.mode = 'AccessExclusiveLock' AND c.relpersistence <> 't' "
             "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())")


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_300000_row_import_takes_no_exclusive_lock_on_a_table_that_pages_read(engine, now, monkeypatch):
    assert load(engine, "agreements", agreements_file(1_000), now).outcome == "imported"
    data = hourly_file(1_000, 300, dt.datetime(2020, 10, 25, tzinfo=dt.UTC))  # October and November
    with engine.connect() as conn:
        before = {oid for (oid,) in conn.execute(text("SELECT oid FROM pg_class"))}

    # Inside the import's transaction, after each COPY and after the day rows: another connection
    # reads every table the pages read; NOWAIT fails at once on any lock that would make it wait.
    reads: list[str] = []

    def read_now(stage: str) -> None:
        with engine.connect() as reader, reader.begin():
            reader.execute(text(f"LOCK TABLE {', '.join(READ_TABLES)} IN ACCESS SHARE MODE NOWAIT"))
            reader.execute(text("SELECT count(*) FROM agreements")).scalar()
            reader.execute(text("SELECT count(*) FROM hourly_calls WHERE hour >= '2020-11-01'")).scalar()
        reads.append(stage)

    real_copy, real_refresh = loaders._copy, loaders.daytable.refresh

    def copy_then_read(cur, table, cols, chunks, **options):  # type: ignore[no-untyped-def]
        real_copy(cur, table, cols, chunks, **options)
        read_now(f"after COPY into {table}")

    def refresh_then_read(*args):  # type: ignore[no-untyped-def]
        made = real_refresh(*args)
        read_now("after the day rows")
        return made

    monkeypatch.setattr(loaders, "_copy", copy_then_read)
    monkeypatch.setattr(loaders.daytable, "refresh", refresh_then_read)

    results = []
    importing = threading.Thread(target=lambda: results.append(load(engine, "calls", data, now, name="catch-up.csv")))
    seen: dict[int, str] = {}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
        importing.start()
        while importing.is_alive():  # the whole import, from parsing to its commit
            seen.update(dict(watcher.execute(text(EXCLUSIVE)).all()))
            time.sleep(0.005)  # a breath between polls, not a limit
        importing.join()
    assert results and results[0].outcome == "imported", results[0].report() if results else "no result"
    assert rows(engine, "SELECT count(*) FROM hourly_calls") == [(300_000,)]
    assert reads == ["after COPY into hourly_calls", "after the day rows"]
    assert {name for oid, name in seen.items() if oid in before} == set()
    assert pg_partitions(engine) == ["hourly_calls_2020_10", "hourly_calls_2020_11"]  # made by the import


# --- the migration ------------------------------------------------------------------------------

def test_the_migration_keeps_every_count_and_its_downgrade_puts_the_foreign_keys_back(agreements, now):
    from alembic import command

    from monitor.migrate import alembic_config

    hours = "".join(f"2020-{m:02d}-10T{h:02d}:00:00+00:00,{a},{h},0\n" for m in (10, 11) for h in range(3)
                    for a in (A1, A2))
    assert load(agreements, "calls", HEADER + hours + f"2020-11-01,{A1},7,1\n", now).outcome == "imported"
    counts = "SELECT agreement_id, hour, day, calls, errors FROM hourly_calls ORDER BY 1, 2"
    hourly, daily = rows(agreements, counts), rows(agreements, "SELECT * FROM daily_calls")
    postgres = agreements.dialect.name == "postgresql"

    def foreign_keys() -> int:
        if postgres:
            return len(rows(agreements, "SELECT 1 FROM pg_constraint WHERE contype = 'f' "
                                        "AND conrelid IN ('daily_calls'::regclass, 'hourly_calls'::regclass)"))
        return len(rows(agreements, "SELECT 1 FROM pragma_foreign_key_list('daily_calls') UNION ALL "
                                    "SELECT 1 FROM pragma_foreign_key_list('hourly_calls')"))

    with agreements.begin() as conn:
        command.downgrade(alembic_config(conn), "0021")
    assert (rows(agreements, counts), rows(agreements, "SELECT * FROM daily_calls")) == (hourly, daily)
    assert foreign_keys() == 2
    triggers = ("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'agreements_never_%'" if postgres else
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'agreements_never_%'")
    assert rows(agreements, triggers) == []
    with agreements.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert (rows(agreements, counts), rows(agreements, "SELECT * FROM daily_calls")) == (hourly, daily)
    assert foreign_keys() == 0
    if postgres:
        assert pg_partitions(agreements) == ["hourly_calls_2020_10", "hourly_calls_2020_11"]
    with pytest.raises(DatabaseError, match="agreements are never deleted"), agreements.begin() as conn:
        conn.execute(text("DELETE FROM agreements"))

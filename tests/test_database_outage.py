"""A database that goes away under load: every answer is 2xx or 503 with Retry-After, never a 500.

On PostgreSQL the server drops the connections (`pg_terminate_backend`) every 2 seconds. On
SQLite no server can drop a connection, so the outage is the other one SQLite has: another
process holds the database file under an exclusive lock (`PRAGMA locking_mode=EXCLUSIVE` and
`BEGIN EXCLUSIVE`, which in WAL mode shuts out readers too), and every request waits out the
busy timeout and gets 503, until the lock is released and the same server answers again.
"""

from __future__ import annotations

import http.client
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from monitor import create_app
from monitor import db as db_module
from tests.prometheus_helpers import served
from tests.waiting import wait_until

PATHS = ("/api/v1/components", "/api/v1/notices?status=all", "/readyz", "/driftsstatus", "/api/v1/ratings",
         "/kommune/101", "/api/v1/municipalities/147", "/")


@dataclass
class Load:
    """Six clients asking for PATHS in turn until stopped, every answer counted by status."""

    host: str
    statuses: dict[int, int] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, n: int) -> None:
        i = n
        while not self.stop.is_set():
            path = PATHS[i % len(PATHS)]
            i += 1
            conn = http.client.HTTPConnection(*self.host.split(":"), timeout=60)
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                status, retry = response.status, response.getheader("Retry-After")
            finally:
                conn.close()
            with self.lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1
                if not (200 <= status < 300 or (status == 503 and retry)):
                    self.bad.append(f"{path}: {status}")

    def counted(self) -> dict[int, int]:
        with self.lock:
            return dict(self.statuses)


@contextmanager
def under_load(host: str) -> Iterator[Load]:
    load = Load(host)
    workers = [threading.Thread(target=load.client, args=(n,)) for n in range(6)]
    for w in workers:
        w.start()
    try:
        yield load
    finally:
        load.stop.set()
        for w in workers:
            w.join(120)


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_connections_terminated_every_2_seconds_under_load_give_only_2xx_and_503(app, db_url) -> None:
    database = make_url(db_url).database
    admin = create_engine(make_url(db_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    killed = 0
    with served(app) as host, under_load(host) as load:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the load runs for 20 s; the kills come every 2 s
            load.stop.wait(2)
            with admin.connect() as conn:
                killed += conn.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database}).scalar() or 0
    admin.dispose()
    assert killed >= 5, "the kills must have hit live connections"
    assert sum(load.statuses.values()) > 50
    assert not load.bad, (load.bad[:10], load.statuses)


def answered(load: Load) -> int:
    return sum(n for status, n in load.counted().items() if 200 <= status < 300)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_database_file_locked_by_another_process_under_load_gives_503_and_then_2xx_again(
        settings, db_url, monkeypatch) -> None:
    # A short busy timeout, so that each request gives up on the lock in one second, not thirty.
    monkeypatch.setattr(db_module, "SQLITE_BUSY_TIMEOUT_MS", 1000)
    app = create_app(settings)
    path = make_url(db_url).database
    assert path
    with served(app) as host:
        app.extensions["monitor"].engine.dispose()  # as at a start: no connection open before the lock
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with under_load(host) as load:
                wait_until(lambda: load.counted().get(503, 0) >= 12, "503s while the file is locked")
                assert answered(load) == 0, load.counted()  # nothing got past the lock
                holder.execute("COMMIT")
                holder.close()  # the lock goes with the connection
                before = answered(load)
                wait_until(lambda: answered(load) >= before + 24, "2xx again once the lock is gone")
        finally:
            holder.close()
    assert not load.bad, (load.bad[:10], load.statuses)

"""Connections dropped by PostgreSQL under load: every answer is 2xx or 503 with Retry-After, never a 500."""

from __future__ import annotations

import http.client
import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.prometheus_helpers import served

PATHS = ("/api/v1/components", "/api/v1/notices?status=all", "/readyz", "/driftsstatus", "/api/v1/ratings",
         "/kommune/101", "/api/v1/municipalities/147", "/")


@pytest.mark.postgres
def test_connections_terminated_every_2_seconds_under_load_give_only_2xx_and_503(app, db_url) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    database = make_url(db_url).database
    admin = create_engine(make_url(db_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    statuses: dict[int, int] = {}
    bad: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    killed = 0

    def load(host: str, n: int) -> None:
        i = n
        while not stop.is_set():
            path = PATHS[i % len(PATHS)]
            i += 1
            conn = http.client.HTTPConnection(*host.split(":"), timeout=60)
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                status, retry = response.status, response.getheader("Retry-After")
            finally:
                conn.close()
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if not (200 <= status < 300 or (status == 503 and retry)):
                    bad.append(f"{path}: {status}")

    with served(app) as host:
        workers = [threading.Thread(target=load, args=(host, n)) for n in range(6)]
        for w in workers:
            w.start()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # the load runs for 20 s; the kills come every 2 s
                stop.wait(2)
                with admin.connect() as conn:
                    killed += conn.execute(text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database}).scalar() or 0
        finally:
            stop.set()
            for w in workers:
                w.join(120)
    admin.dispose()
    assert killed >= 5, "the kills must have hit live connections"
    assert sum(statuses.values()) > 50
    assert not bad, (bad[:10], statuses)

"""The database going away: fail fast with 503, recover by itself."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from monitor import create_app
from tests.conftest import make_settings


@pytest.fixture
def app_without_database(tmp_path):  # type: ignore[no-untyped-def]
    # A port where nothing listens: connections are refused at once.
    settings = make_settings(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:9/nowhere?connect_timeout=2")
    app = create_app(settings)
    app.config.update(TESTING=True)
    return app


def test_without_a_database_the_process_is_alive_but_not_ready(app_without_database):
    client = app_without_database.test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["status"] == "unavailable"


def test_a_request_that_needs_the_database_gets_503_with_retry_after(app_without_database):
    client = app_without_database.test_client()
    response = client.get("/api/v1/ratings")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["error"] == "database unavailable"
    page = client.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 503 and "Databasen svarer ikke" in page.get_data(as_text=True)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_connections_killed_by_a_database_restart_are_replaced_without_an_error(app, client, db_url):
    assert client.get("/readyz").status_code == 200
    engine = app.extensions["monitor"].engine
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    admin = create_engine(make_url(db_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE datname = :db AND pid <> pg_backend_pid()"),
                              {"db": make_url(db_url).database}).scalar()
    admin.dispose()
    assert killed >= 1  # the pooled connection of the first request
    assert client.get("/readyz").status_code == 200  # pre-ping replaced it
    assert client.get("/api/v1/components").status_code == 200
    assert engine.pool.checkedout() == 0


def test_a_full_disk_in_the_inbox_loses_nothing_and_counts_nothing_twice(engine, settings, tmp_path, monkeypatch):
    import errno

    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from monitor.collectors.calls import importer
    from monitor.models import AgreementDay

    agreements = tmp_path / "agreements.csv"
    agreements.write_text("agreement_uuid,municipality_code,it_system_uuid,service,status\n"
                          "a-1,101,s-1,SF1520,aktiv\n")
    assert all(r.ok for r in importer.import_paths(engine, settings, "agreements", [agreements]))
    inbox = settings.path(settings.collectors.calls.inbox)
    inbox.mkdir(parents=True)
    (inbox / "calls-1.csv").write_text("period_start;agreement_uuid;calls\n2020-11-27;a-1;40\n")

    def disk_full(src, dst):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(importer.os, "replace", disk_full)
    result = importer.process_inbox(engine, settings)
    assert any("cannot move out of the inbox" in e and "No space left" in e for e in result.errors)
    assert (inbox / "calls-1.csv").exists()  # still there, nothing lost

    def total() -> int:
        with Session(engine) as s:
            return s.scalar(select(func.sum(AgreementDay.calls)).where(AgreementDay.daily)) or 0

    assert total() == 40
    monkeypatch.undo()
    result = importer.process_inbox(engine, settings)  # space again: the file is filed away
    assert not (inbox / "calls-1.csv").exists() and (inbox / "archive" / "calls-1.csv").exists()
    assert total() == 40  # and not counted twice

"""Shared fixtures: settings → engine (SQLite and PostgreSQL) → session → app → client.

Every test that asks for `engine` runs twice, once per database, each on a database of its
own: a copy of a migrated SQLite file, or a PostgreSQL database cloned from a migrated
template. PostgreSQL tests skip with a reason when the server is absent, and fail instead
when MONITOR_REQUIRE_SERVICES=1 (as in CI).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from monitor import create_app
from monitor.db import make_engine, session_factory
from monitor.migrate import upgrade
from monitor.settings import Settings, from_mapping

# No time limit in a test, Hypothesis's per-example deadline included: a shared machine's load
# made a 0.3 ms example take 260 ms once. Every @settings(...) without its own deadline inherits this.
hypothesis_settings.register_profile("monitor", deadline=None)
hypothesis_settings.load_profile("monitor")

PG_ADMIN_URL = os.environ.get("MONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE = os.environ.get("MONITOR_REQUIRE_SERVICES") == "1"
FIXTURES = Path(__file__).parent / "fixtures"
CLOCK_DIR = Path(__file__).parent / "clock"  # its sitecustomize.py moves subprocesses' clocks


def pytest_configure(config: pytest.Config) -> None:
    """MONITOR_TEST_CLOCK=2026-11-29T10:30:00+01:00 runs the whole suite at that (ticking) time.

    CI runs the suite once at the real time and once with the clock moved, so a test that
    depends on the hour it runs fails in CI instead of by chance. Subprocesses the tests start
    are moved too: tests/clock/sitecustomize.py is put first on PYTHONPATH.
    """
    value = os.environ.get("MONITOR_TEST_CLOCK", "").strip()
    if not value:
        return
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise pytest.UsageError(f"MONITOR_TEST_CLOCK: not an ISO 8601 date-time: {value!r}") from None
    if when.tzinfo is None:
        raise pytest.UsageError(f"MONITOR_TEST_CLOCK: give an offset, e.g. 2026-11-29T10:30:00+01:00, got {value!r}")
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(CLOCK_DIR) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(CLOCK_DIR), *paths])
    import sys

    site = sys.modules.get("sitecustomize")
    if getattr(site, "traveller", None) is None:  # this process started before PYTHONPATH had it
        import time_machine

        traveller = time_machine.travel(when, tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)


def need(reason: str) -> None:
    """Skip with `reason`, or fail when the services are required (CI)."""
    if REQUIRE:
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


def make_settings(tmp_path: Path, db_url: str, **sections: dict) -> Settings:
    """Settings for a test: defaults plus `sections`, paths under `tmp_path`."""
    data: dict = {"database": {"url": db_url},
                  "collectors": {"calls": {"inbox": str(tmp_path / "inbox")}},
                  "mail": {"backend": "file", "outbox_dir": str(tmp_path / "outbox")},
                  "demo": {"feed_path": str(tmp_path / "demo-status.rss")}}
    for key, value in sections.items():
        data.setdefault(key, {}).update(value) if isinstance(value, dict) else data.__setitem__(key, value)
    return from_mapping(data, str(tmp_path), environ={"MONITOR_SECRET_KEY": "test-secret"})


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine, make_settings(path.parent, f"sqlite:///{path}"))
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # no server
        yield None if not REQUIRE else pytest.fail(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
        return
    name = f"monitor_tmpl_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine, make_settings(tmp_path_factory.mktemp("pgt"), url))
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database of its own, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "monitor.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    if template is None:
        need(f"PostgreSQL not reachable at {PG_ADMIN_URL}")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"monitor_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield admin.url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated SQLite database only (for tests that are not about the database)."""
    path = tmp_path / "monitor.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, db_url)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database.url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as s:
        yield s


@pytest.fixture
def app(settings: Settings, engine: Engine):  # type: ignore[no-untyped-def]
    app = create_app(settings)
    app.config.update(TESTING=True)
    yield app
    app.extensions["monitor"].engine.dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def smtp():  # type: ignore[no-untyped-def]
    """A real SMTP server (aiosmtpd) on 127.0.0.1 for one test."""
    from tests.notify_helpers import running_smtp

    with running_smtp() as server:
        yield server


@pytest.fixture
def now() -> dt.datetime:
    """The frozen clock of the tests: Saturday 28 November 2020, 12:00 Copenhagen."""
    return dt.datetime(2020, 11, 28, 11, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock(now: dt.datetime) -> Iterator[dt.datetime]:
    """The process's clock moved to `now` and ticking from there, for tests whose code reads the current
    time itself (forms, signed tokens, the outbox run by a view); yields `now`."""
    import time_machine

    with time_machine.travel(now, tick=True):
        yield now


# Page heights that browser tests measure (tests/artifacts/*-heights.txt, one "name: N px" a
# line), printed at the end of every run so that CI's output shows them beside the screenshots.
HEIGHTS_GLOB = "*-heights.txt"


def pytest_sessionstart(session: pytest.Session) -> None:
    """The controller (not an xdist worker) starts each run without the last run's heights."""
    if not hasattr(session.config, "workerinput"):
        for stale in (Path(__file__).parent / "artifacts").glob(HEIGHTS_GLOB):
            stale.unlink()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the page heights the browser tests wrote in this run."""
    for path in sorted((Path(__file__).parent / "artifacts").glob(HEIGHTS_GLOB)):
        terminalreporter.write_sep("-", f"page heights ({path.name})")
        for line in sorted(path.read_text(encoding="utf-8").splitlines()):
            terminalreporter.write_line(line)

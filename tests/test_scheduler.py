"""One scheduler per installation; jobs that fail are counted and never stop the others."""

from __future__ import annotations

import datetime as dt
import inspect
import threading

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitor import scheduler as sched
from monitor.db import utcnow
from monitor.models import CounterValue, SchedulerLock
from tests.waiting import PATIENCE_SECONDS, wait_until


def test_only_one_of_two_schedulers_holds_the_lock_until_it_releases_it(engine):
    first, second = sched.Lock(engine, "first"), sched.Lock(engine, "second")
    assert first.try_acquire()
    assert not second.try_acquire()
    assert first.try_acquire()  # holding it again is fine
    assert first.heartbeat()
    first.release()
    assert second.try_acquire()
    assert not first.try_acquire()
    second.release()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL frees a dead holder's lock itself
def test_a_lock_whose_holder_stopped_beating_is_taken_over(engine, settings):
    first, second = sched.Lock(engine, "first"), sched.Lock(engine, "second")
    assert first.try_acquire()
    with Session(engine) as s, s.begin():
        s.execute(update(SchedulerLock).values(
            heartbeat_at=utcnow() - dt.timedelta(seconds=first.stale_after_seconds + 5)))
    assert second.try_acquire()
    assert not first.heartbeat()  # the old holder learns it lost the lock
    with Session(engine) as s:
        assert s.scalar(select(SchedulerLock.holder)) == "second"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_postgresql_lock_is_freed_when_its_holder_disconnects(engine):
    first, second = sched.Lock(engine, "first"), sched.Lock(engine, "second")
    assert first.try_acquire()
    assert not second.try_acquire()
    first._conn.invalidate()  # the process died: its connection is gone
    first._conn = None
    # The server notices the closed socket on its own time; on a busy machine that takes a moment.
    wait_until(second.try_acquire, "the server to free the dead holder's lock", every=0.1)
    assert second._conn is not None
    second.release()


def test_a_failing_job_is_logged_and_counted_and_does_not_raise(engine, settings, caplog):
    job = sched.Job("broken", "monitor.scheduler:no_such_function", None)
    sched.run_job(job, engine, settings)
    assert "job broken failed" in caplog.text
    with Session(engine) as s:
        row = s.get(CounterValue, ("scheduler_job_runs_total", "job=broken,outcome=failure"))
        assert row is not None and row.value == 1


def test_the_job_table_has_the_demo_jobs_only_when_the_demo_is_on(tmp_path, sqlite_url):
    from tests.conftest import make_settings
    off = {j.id for j in sched.job_table(make_settings(tmp_path, sqlite_url, demo={"enabled": False}))}
    on = {j.id for j in sched.job_table(make_settings(tmp_path, sqlite_url, demo={"enabled": True}))}
    assert {"notices", "calls", "notify", "rating", "purge"} <= off
    assert on - off == {"demo-calls", "demo-feed"}


def test_every_job_of_the_full_table_resolves_to_a_function_of_engine_and_settings(tmp_path, sqlite_url):
    from tests.conftest import make_settings
    jobs = sched.job_table(make_settings(tmp_path, sqlite_url, demo={"enabled": True}))
    assert {"notices", "calls", "hourly-retention", "demo-calls", "demo-feed"} <= {j.id for j in jobs}
    sched.check_jobs(jobs)  # raises, naming the job, when one does not resolve
    for job in jobs:
        function = sched.resolve(job.target)
        assert callable(function), job
        inspect.signature(function).bind(object(), object())


@pytest.mark.parametrize(("target", "error"), [
    ("monitor.nowhere:run", "ModuleNotFoundError"),
    ("monitor.scheduler:no_such_function", "AttributeError"),
    ("monitor.scheduler", "AttributeError"),  # no ":function"
    ("monitor.scheduler:LOCK_NAME", "TypeError"),  # not callable
    ("monitor.scheduler:resolve", "TypeError"),  # takes one argument, not (engine, settings)
])
def test_a_job_naming_what_cannot_run_stops_the_scheduler_before_it_takes_the_lock(
        engine, settings, monkeypatch, target, error):
    good = sched.Job("notify", "monitor.notify.outbox:deliver_due", None)
    monkeypatch.setattr(sched, "job_table", lambda s: [good, sched.Job("odd", target, None)])
    with pytest.raises(sched.JobTableError, match=rf"job odd: {target}: {error}") as info:
        sched.Runner(settings, engine)
    assert "notify" not in str(info.value)
    other = sched.Lock(engine, "other")
    assert other.try_acquire()  # nobody took the lock
    other.release()


def test_a_second_runner_waits_idle_and_takes_over_when_the_first_stops(engine, settings, monkeypatch):
    monkeypatch.setattr(sched, "job_table", lambda s: [])
    first = sched.Runner(settings, engine, poll_seconds=0.05)
    second = sched.Runner(settings, engine, poll_seconds=0.05)
    refused = threading.Semaphore(0)  # released once per attempt of the second runner that failed
    attempt = second.lock.try_acquire

    def counted_attempt() -> bool:
        got = attempt()
        if not got:
            refused.release()
        return got

    second.lock.try_acquire = counted_attempt  # type: ignore[method-assign]
    t1 = threading.Thread(target=first.run)
    t1.start()
    wait_until(first.running_jobs, "the first runner to take the lock")
    t2 = threading.Thread(target=second.run)
    t2.start()
    # Proof of absence by events, not by sleeping: three refused attempts, none of them taken.
    for n in range(3):
        assert refused.acquire(timeout=PATIENCE_SECONDS), f"the second runner made only {n} attempts"
    assert not second.running_jobs()
    first.stop()
    t1.join(PATIENCE_SECONDS)
    wait_until(second.running_jobs, "the second runner to take over")
    second.stop()
    t2.join(PATIENCE_SECONDS)


def test_the_scheduler_loads_the_large_file_reader_as_it_starts_its_jobs(engine, settings, monkeypatch):
    monkeypatch.setattr(sched, "job_table", lambda s: [])
    loaded = threading.Event()
    monkeypatch.setattr(sched.columnar, "preload", loaded.set)
    runner = sched.Runner(settings, engine, poll_seconds=0.05)
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        assert loaded.wait(PATIENCE_SECONDS), "the scheduler started its jobs without loading pyarrow"
    finally:
        runner.stop()
        thread.join(PATIENCE_SECONDS)


def test_preloading_imports_pyarrow_once_in_a_fresh_process():
    import subprocess
    import sys

    code = ("import sys; from monitor.collectors.calls import columnar; "
            "assert 'pyarrow' not in sys.modules, 'imported too early'; "
            "assert columnar.preload() and 'pyarrow.csv' in sys.modules; "
            "import pyarrow; assert pyarrow.default_memory_pool().backend_name == 'system'; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "ok", done.stderr

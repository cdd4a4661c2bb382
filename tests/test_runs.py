"""Run records: every job leaves one, a failed job leaves a failed one, and a killed run does not stay running."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import typing

import pytest
from sqlalchemy import Engine, func, select

from monitor import runs
from monitor.collectors.calls.importer import import_paths, process_inbox
from monitor.db import session_factory, session_scope, utcnow
from monitor.models import CollectorRun, CounterValue, RatingRun
from monitor.notify.collect import poll_sources
from monitor.notify.outbox import deliver_due
from monitor.rating.service import run_daily
from monitor.settings import Settings
from tests.import_helpers import counter

JOBS = {
    "calls": lambda engine, settings, now: process_inbox(engine, settings, now),
    "import": lambda engine, settings, now: import_paths(engine, settings, "calls", [], now),
    "notices": lambda engine, settings, now: poll_sources(engine, settings, [], now=now),
    "notify": lambda engine, settings, now: deliver_due(engine, settings, now=now),
    "rating": lambda engine, settings, now: run_daily(engine, settings, now=now),
}


def records_of(engine: Engine, collector: str) -> list[CollectorRun]:
    with session_factory(engine)() as s:
        return list(s.scalars(select(CollectorRun).where(CollectorRun.collector == collector)
                              .order_by(CollectorRun.id)))


def dead_pid() -> int:
    """The id of a process that has ended."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    return int(gone.stdout)


def left_running(engine: Engine, collector: str, started_at: dt.datetime, owner: str) -> int:
    """A run record as a killed process leaves it."""
    with session_scope(session_factory(engine)) as s:
        run = CollectorRun(collector=collector, started_at=started_at, outcome="running", message=owner)
        s.add(run)
        s.flush()
        return run.id


@pytest.mark.parametrize("job", sorted(JOBS))
def test_each_job_leaves_one_finished_record_timed_by_one_clock(engine: Engine, settings: Settings,
                                                                now: dt.datetime, job: str) -> None:
    JOBS[job](engine, settings, now)
    [run] = records_of(engine, job)
    assert (run.outcome, run.started_at, run.finished_at) == ("success", now, now)
    assert counter(engine, "collector_runs_total", f"collector={job},outcome=success") == 1


def test_a_job_that_fails_in_its_data_transaction_leaves_a_failed_record_and_no_data(
        engine: Engine, settings: Settings, now: dt.datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    finish = runs.JobRun.finish

    def finish_then_fail(self: runs.JobRun, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        finish(self, *args, **kwargs)
        raise RuntimeError("disk full")

    monkeypatch.setattr(runs.JobRun, "finish", finish_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        run_daily(engine, settings, now=now)
    with session_factory(engine)() as s:
        assert s.scalar(select(func.count()).select_from(RatingRun)) == 0
    [run] = records_of(engine, "rating")
    assert (run.outcome, run.message, run.finished_at) == ("failure", "RuntimeError: disk full", now)
    assert counter(engine, "collector_runs_total", "collector=rating,outcome=success") == 0
    assert counter(engine, "collector_runs_total", "collector=rating,outcome=failure") == 1


def test_the_record_is_finished_in_the_data_transaction_or_not_at_all(engine: Engine, now: dt.datetime) -> None:
    sessions = session_factory(engine)
    with (pytest.raises(ZeroDivisionError), runs.recorded_run(sessions, "job", now) as run,
          session_scope(sessions) as s):
        runs.increment(s, "job_rows_total", {})
        run.finish(s, True, "wrote a row")
        1 / 0  # noqa: B018 - fails after the data and the record were written, before the commit
    with session_factory(engine)() as s:
        assert s.scalar(select(CounterValue).where(CounterValue.metric == "job_rows_total")) is None
    [failed] = records_of(engine, "job")
    assert (failed.outcome, failed.message) == ("failure", "ZeroDivisionError: division by zero")
    with runs.recorded_run(sessions, "job", now) as run, session_scope(sessions) as s:
        runs.increment(s, "job_rows_total", {})
        run.finish(s, True, "wrote a row")
    assert [(r.outcome, r.message) for r in records_of(engine, "job")][1] == ("success", "wrote a row")
    assert counter(engine, "job_rows_total", "") == 1


def test_a_run_left_running_by_a_killed_process_is_marked_failed_by_the_next_run(
        engine: Engine, settings: Settings, now: dt.datetime) -> None:
    killed = left_running(engine, "notify", now - dt.timedelta(minutes=5), f"pid {dead_pid()} on {socket.gethostname()}")
    deliver_due(engine, settings, now=now)
    got = {r.id: r for r in records_of(engine, "notify")}
    assert got[killed].outcome == "failure" and got[killed].message.startswith("interrupted: the process")
    assert got[killed].finished_at == now
    assert [r.outcome for r in got.values() if r.id != killed] == ["success"]
    assert counter(engine, "collector_runs_total", "collector=notify,outcome=failure") == 1


def test_a_run_of_another_machine_is_marked_failed_only_past_the_staleness_limit(
        engine: Engine, settings: Settings, now: dt.datetime) -> None:
    elsewhere = "pid 1 on another-machine"
    recent = left_running(engine, "notices", now - dt.timedelta(hours=1), elsewhere)
    stale = left_running(engine, "notices", now - dt.timedelta(hours=runs.STALE_RUN_HOURS, seconds=1), elsewhere)
    poll_sources(engine, settings, [], now=now)
    got = {r.id: r.outcome for r in records_of(engine, "notices")}
    assert (got[recent], got[stale]) == ("running", "failure")


def test_a_starting_scheduler_fails_the_runs_of_every_job_whose_process_died(
        engine: Engine, settings: Settings) -> None:
    from monitor.scheduler import Runner

    now = utcnow()  # the scheduler reads the current time
    owner = f"pid {dead_pid()} on {socket.gethostname()}"
    killed = {job: left_running(engine, job, now, owner) for job in ("calls", "rating")}
    alive = left_running(engine, "notify", now, f"pid {os.getppid()} on {socket.gethostname()}")  # a living process
    Runner(settings, engine)._fail_interrupted_runs()
    assert [records_of(engine, job)[0].outcome for job in killed] == ["failure", "failure"]
    assert records_of(engine, "notify")[0].id == alive and records_of(engine, "notify")[0].outcome == "running"


def test_a_run_of_this_process_whose_end_was_never_written_is_failed_by_the_next_run(
        engine: Engine, now: dt.datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    def database_away(*args: object) -> int:
        raise OSError("database away")

    sessions = session_factory(engine)
    with monkeypatch.context() as m:
        m.setattr(runs, "_close", database_away)
        with runs.recorded_run(sessions, "calls", now):
            pass
    [lost] = records_of(engine, "calls")
    assert lost.outcome == "running"
    # The next run fails it at its start; while that one runs, it is not taken for lost itself.
    with runs.recorded_run(sessions, "calls", now) as run, session_factory(engine)() as s:
        assert runs.fail_interrupted_runs(s, "calls", now) == 0
    got = {r.id: (r.outcome, r.message) for r in records_of(engine, "calls")}
    assert got[lost.id] == ("failure", f"interrupted: the run ({lost.message}) ended without recording its end")
    assert got[run.id] == ("success", "")


def test_every_job_records_details_of_its_own_shape_and_the_readers_get_them_typed(
        engine: Engine, settings: Settings, now: dt.datetime) -> None:
    shapes = {"calls": runs.FilesDetails, "import": runs.FilesDetails, "notices": runs.NoticesDetails,
              "notify": runs.NotifyDetails, "rating": runs.RatingDetails}
    for job in sorted(JOBS):
        JOBS[job](engine, settings, now)
    later = now + dt.timedelta(hours=25)
    JOBS["notify"](engine, settings, later)
    with session_factory(engine)() as s:
        states = {state.name: state for state in runs.job_states(s, later)}
        assert sorted(states) == sorted(JOBS)
        for job, shape in shapes.items():
            last = states[job].last
            assert last is not None and last.details is not None and last.outcome == "success"
            hints = typing.get_type_hints(shape, include_extras=True)
            required = {k for k, v in hints.items() if typing.get_origin(v) is not typing.NotRequired}
            assert required <= set(last.details) <= set(hints), job
            assert states[job].failure is None
        assert states["notify"].runs_24h == 1 and states["rating"].runs_24h == 0  # counted back from `later`
        assert states["notify"].last is not None and states["notify"].last.started_at == later
        assert runs.last_successes(s) == {**dict.fromkeys(JOBS, now), "notify": later}
        readings = {(r.metric, tuple(sorted(r.labels.items()))): r.value
                    for r in runs.counter_values(s, ["collector_runs_total"])}
        assert readings[("collector_runs_total", (("collector", "notify"), ("outcome", "success")))] == 2


def test_a_run_without_details_is_read_as_none(engine: Engine, now: dt.datetime) -> None:
    with session_scope(session_factory(engine)) as s:
        s.add(CollectorRun(collector="old", started_at=now, finished_at=now, outcome="success", message="done"))
    with session_factory(engine)() as s:
        [state] = runs.job_states(s, now)
        assert state.last is not None and (state.last.details, state.last.message) == (None, "done")

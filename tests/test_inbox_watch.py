"""A call file landing in the inbox starts an inbox pass at once; the poll stays as the fallback."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from watchdog.events import FileClosedEvent, FileCreatedEvent, FileMovedEvent

from monitor import scheduler as sched
from monitor.collectors.calls.inboxwatch import SETTLED_SECONDS, InboxEvents, InboxWatcher, Wake
from monitor.models import ImportedFile
from tests.waiting import PATIENCE_SECONDS, wait_until

DEADLINE_SECONDS = PATIENCE_SECONDS  # patience on a busy machine, not a speed claim
CALLS = "period_start,agreement_uuid,calls\n2020-11-27,aaaaaaaa-0000-4000-8000-00000000000f,5\n"


class Passes:
    """Counts the passes a `Wake` asks for."""

    def __init__(self) -> None:
        self.count = 0
        self.asked = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self.asked.set()


def land(inbox: Path, name: str, content: str = CALLS) -> Path:
    """Write a file the way writers must: `name.tmp`, then a rename."""
    tmp = inbox / f"{name}.tmp"
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, inbox / name)
    return inbox / name


# --- the wake: passes asked for -----------------------------------------------------------

def test_a_file_landing_while_no_pass_runs_asks_for_one_pass_now():
    passes = Passes()
    Wake(passes).file_landed()
    assert passes.count == 1


def test_files_landing_during_a_pass_ask_for_exactly_one_more_pass_when_it_ends():
    passes = Passes()
    wake = Wake(passes)
    wake.pass_started()
    wake.file_landed()
    wake.file_landed()
    assert passes.count == 0
    wake.pass_ended()
    assert passes.count == 1
    wake.pass_started()
    wake.pass_ended()
    assert passes.count == 1  # nothing landed during the second pass


def test_a_pass_that_started_after_the_file_landed_needs_no_second_one():
    passes = Passes()
    wake = Wake(passes)
    wake.file_landed()  # asks for the pass now …
    wake.pass_started()  # … which starts and sees the file
    wake.pass_ended()
    assert passes.count == 1


# --- which events count as a complete file ------------------------------------------------

NOW = 1_700_000_000.0


@pytest.fixture
def events(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "archive").mkdir(parents=True)
    passes = Passes()
    return inbox, InboxEvents(inbox, Wake(passes), clock=lambda: NOW), passes


def written(path: Path, seconds_ago: float) -> str:
    path.write_text(CALLS, encoding="utf-8")
    os.utime(path, (NOW - seconds_ago, NOW - seconds_ago))
    return str(path)


@pytest.mark.parametrize("event, wakes", [
    (lambda inbox: FileMovedEvent(str(inbox / "a.csv.tmp"), str(inbox / "a.csv")), True),
    (lambda inbox: FileMovedEvent(str(inbox / "a.csv"), str(inbox / "a.csv.tmp")), False),
    (lambda inbox: FileMovedEvent(str(inbox / "a.csv"), str(inbox / "archive" / "a.csv")), False),
    (lambda inbox: FileMovedEvent(str(inbox / "x"), str(inbox / ".hidden.csv")), False),
    (lambda inbox: FileClosedEvent(str(inbox / "b.csv")), True),
    (lambda inbox: FileClosedEvent(str(inbox / "b.csv.tmp")), False),
    (lambda inbox: FileCreatedEvent(written(inbox / "moved-in.csv", SETTLED_SECONDS + 60)), True),
    (lambda inbox: FileCreatedEvent(written(inbox / "being-written.csv", 0)), False),
    (lambda inbox: FileCreatedEvent(written(inbox / "old.csv.tmp", 3600)), False),
    (lambda inbox: FileCreatedEvent(str(inbox / "gone.csv")), False),
], ids=["renamed from .tmp", "renamed to .tmp", "filed into archive/", "dotfile", "closed after writing",
        "a .tmp closed", "moved in from another folder", "created, still being written", "an old .tmp moved in",
        "created and gone again"])
def test_only_complete_files_in_the_inbox_itself_wake_a_pass(events, event, wakes):
    inbox, handler, passes = events
    handler.dispatch(event(inbox))
    assert (passes.count == 1) is wakes


# --- the real watcher and the real scheduler ----------------------------------------------

def test_the_watcher_sees_a_file_renamed_into_the_inbox(tmp_path):
    inbox = tmp_path / "inbox"
    passes = Passes()
    watcher = InboxWatcher(inbox, Wake(passes))
    assert watcher.start()
    try:
        land(inbox, "calls-20201127T10Z.csv")
        assert passes.asked.wait(DEADLINE_SECONDS)
    finally:
        watcher.stop()


def test_a_folder_that_cannot_be_watched_leaves_the_poll_alone(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    watcher = InboxWatcher(blocker / "inbox", Wake(Passes()))
    assert not watcher.start()
    assert "cannot watch the inbox" in caplog.text
    watcher.stop()


def imported_names(engine) -> list[str]:
    with Session(engine) as s:
        return list(s.scalars(select(ImportedFile.name).where(ImportedFile.kind == "calls")))


def test_the_scheduler_imports_a_landed_file_long_before_its_next_poll(engine, settings, monkeypatch):
    # Only the inbox job, polling once an hour: without the watcher the file would wait an hour.
    hourly = sched.Job("calls", "monitor.collectors.calls.importer:process_inbox",
                       sched.IntervalTrigger(seconds=3600))
    monkeypatch.setattr(sched, "job_table", lambda s: [hourly])
    passes = threading.Event()
    real = sched.run_job

    def run_job(job, engine_, settings_):
        real(job, engine_, settings_)
        passes.set()

    monkeypatch.setattr(sched, "run_job", run_job)
    runner = sched.Runner(settings, engine, poll_seconds=0.05)
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        assert passes.wait(DEADLINE_SECONDS)  # the pass at start, on an empty inbox
        passes.clear()
        # The watcher starts right after the scheduler, whose pass at start may finish first.
        wait_until(lambda: runner.watcher, "the inbox watcher to start")
        inbox = settings.path(settings.collectors.calls.inbox)
        land(inbox, "calls-20201127T10Z.csv")
        assert passes.wait(DEADLINE_SECONDS)
        assert imported_names(engine) == ["calls-20201127T10Z.csv"]
        assert (inbox / "archive" / "calls-20201127T10Z.csv").exists()
    finally:
        runner.stop()
        thread.join(timeout=DEADLINE_SECONDS)
    assert runner.watcher is None  # stopped with the jobs


def test_a_file_landing_while_a_pass_runs_gets_one_more_pass_after_it(engine, settings, monkeypatch):
    hourly = sched.Job("calls", "monitor.collectors.calls.importer:process_inbox",
                       sched.IntervalTrigger(seconds=3600))
    monkeypatch.setattr(sched, "job_table", lambda s: [hourly])
    inbox = settings.path(settings.collectors.calls.inbox)
    first_pass_running, go_on, finished = threading.Event(), threading.Event(), []
    real = sched.run_job

    def run_job(job, engine_, settings_):
        if not finished:  # hold the first pass until a file has landed during it
            first_pass_running.set()
            go_on.wait(DEADLINE_SECONDS)
        real(job, engine_, settings_)
        finished.append(job.id)

    monkeypatch.setattr(sched, "run_job", run_job)
    seen = threading.Event()
    real_landed = Wake.file_landed

    def file_landed(self):
        real_landed(self)
        seen.set()

    monkeypatch.setattr(Wake, "file_landed", file_landed)
    inbox.mkdir(parents=True, exist_ok=True)
    runner = sched.Runner(settings, engine, poll_seconds=0.05)
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        assert first_pass_running.wait(DEADLINE_SECONDS)
        wait_until(lambda: runner.watcher is not None, "the inbox watcher", every=0.01)
        land(inbox, "calls-late.csv")
        assert seen.wait(DEADLINE_SECONDS)  # seen while the first pass is held, before it lists the inbox …
        go_on.set()  # … which, released, imports the file; the pass asked for meanwhile finds nothing more
        wait_until(lambda: len(finished) == 2, "the held pass and one more")
        assert imported_names(engine) == ["calls-late.csv"]
    finally:
        go_on.set()
        runner.stop()
        thread.join(timeout=DEADLINE_SECONDS)

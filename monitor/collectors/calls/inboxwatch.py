"""Wakes the inbox job as soon as a call file lands, instead of at its next poll.

The `watchdog` library reports the inbox folder's events (inotify on Linux). A complete file
appearing there asks for an inbox pass now: renamed from ``name.tmp`` inside the inbox (what
writers are asked to do), closed after being written in place, or moved in from another
folder. Watchdog reports a file moved in from elsewhere exactly as one being created in
place, so a new file counts as complete only when it was last written a while ago (a move
keeps the file's time); one being written wakes the pass when it is closed. The scheduler's
poll stays as the fallback for folders whose events do not arrive (a network share, a
watcher that could not start). A pass asked for while one runs is run once more right after
it, so a file that landed during a pass never waits for the next poll.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

log = logging.getLogger(__name__)
SETTLED_SECONDS = 2.0  # a new file last written longer ago than this was moved in whole


def is_complete(name: str) -> bool:
    """Whether an inbox file name is one the inbox pass takes (dotfiles and ``*.tmp`` are being written)."""
    return bool(name) and not name.startswith(".") and not name.endswith(".tmp")


class Wake:
    """Turns "a file landed" into inbox passes: one now, and one more if a pass was running meanwhile."""

    def __init__(self, run_now: Callable[[], None]) -> None:
        self._run_now = run_now
        self._lock = threading.Lock()
        self._running = False
        self._again = False

    def file_landed(self) -> None:
        """A complete file is in the inbox: run a pass now, or right after the one running."""
        with self._lock:
            if self._running:
                self._again = True
                return
        self._run_now()

    def pass_started(self) -> None:
        """An inbox pass began (by the poll or by a wake): it will see every file there now."""
        with self._lock:
            self._running, self._again = True, False

    def pass_ended(self) -> None:
        """An inbox pass ended; run another if a file landed while it ran."""
        with self._lock:
            self._running, again, self._again = False, self._again, False
        if again:
            self._run_now()


class InboxEvents(FileSystemEventHandler):
    """The inbox folder's file events, turned into `wake.file_landed` for complete files."""

    def __init__(self, inbox: Path, wake: Wake, clock: Callable[[], float] = time.time) -> None:
        self.inbox, self.wake, self.clock = inbox, wake, clock

    def _inbox_file(self, path: str | bytes) -> Path | None:
        p = Path(os.fsdecode(path))
        return p if p.parent == self.inbox and is_complete(p.name) else None

    def _landed(self, path: str | bytes) -> None:
        if self._inbox_file(path) is not None:
            self.wake.file_landed()

    def on_created(self, event: FileSystemEvent) -> None:
        path = None if event.is_directory else self._inbox_file(event.src_path)
        if path is None:
            return
        try:
            written = path.stat().st_mtime
        except OSError:  # gone already (renamed or taken by a pass)
            return
        if self.clock() - written > SETTLED_SECONDS:
            self.wake.file_landed()

    def on_moved(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._landed(event.dest_path)

    def on_closed(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._landed(event.src_path)


class InboxWatcher:
    """Watches `inbox` (not its archive/ and rejected/ folders) and calls `wake.file_landed`."""

    def __init__(self, inbox: Path, wake: Wake) -> None:
        self.inbox = inbox.resolve()
        self.wake = wake
        self._observer: BaseObserver | None = None  # the platform's Observer class is one

    def start(self) -> bool:
        """Start watching; False (logged, the poll carries on alone) when the folder cannot be watched."""
        try:
            self.inbox.mkdir(parents=True, exist_ok=True)
            observer = Observer()
            observer.schedule(InboxEvents(self.inbox, self.wake), str(self.inbox), recursive=False)
            observer.daemon = True
            observer.start()
        except Exception:  # e.g. the inotify watch limit: the poll still finds the files
            log.warning("cannot watch the inbox %s; files are picked up at the next poll", self.inbox, exc_info=True)
            return False
        self._observer = observer
        log.info("watching the inbox %s", self.inbox)
        return True

    def stop(self) -> None:
        """Stop watching and wait for the watcher thread."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
            self._observer = None

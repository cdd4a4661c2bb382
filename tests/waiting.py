"""Waiting for something to happen, always with a deadline.

The deadline is patience, not a speed claim: the machines are shared and slow at times, so it
is generous; reaching it fails the test with what was awaited instead of hanging the suite.
"""

from __future__ import annotations

import time
from collections.abc import Callable

PATIENCE_SECONDS = 120.0


def wait_until(predicate: Callable[[], object], what: str, *, patience: float = PATIENCE_SECONDS,
               every: float = 0.2, tolerate: tuple[type[BaseException], ...] = ()) -> object:
    """Call `predicate` until it returns something true and return that; fail naming `what`
    after `patience` seconds. Exceptions of the `tolerate` types count as "not yet"."""
    deadline = time.monotonic() + patience
    while True:
        try:
            result = predicate()
            if result:
                return result
        except tolerate:
            pass
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {patience:.0f} s waiting for {what}")
        time.sleep(every)

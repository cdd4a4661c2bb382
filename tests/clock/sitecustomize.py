"""Moves the clock of every Python process the test suite starts, when MONITOR_TEST_CLOCK is set.

tests/conftest.py puts this folder first on PYTHONPATH when the variable is set, so the
subprocesses the tests start (gunicorn and its workers, `python -m monitor`, the xdist
workers) read the same moved clock as the test process. The clock keeps ticking from there.
A Python without time-machine (not the project's venv) keeps the real clock.
"""

from __future__ import annotations

import datetime as _dt
import os

traveller = None
_clock = os.environ.get("MONITOR_TEST_CLOCK", "").strip()
if _clock:
    try:
        import time_machine
    except ImportError:  # pragma: no cover - a Python outside the project's venv
        pass
    else:
        _when = _dt.datetime.fromisoformat(_clock)
        if _when.tzinfo is not None:  # conftest rejects a clock without offset with a message
            traveller = time_machine.travel(_when, tick=True)
            traveller.start()

"""Two `monitor scheduler` processes on one database: exactly one runs the jobs, and when it
is killed the other takes over."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.waiting import PATIENCE_SECONDS, wait_until

REFUSALS = 5  # lock attempts the idle scheduler must have lost before we look


def start(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, MONITOR_SECRET_KEY="test-secret")
    env.pop("MONITOR_DATABASE_URL", None)
    with log.open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(cfg), "scheduler"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)


def refusals(log: Path) -> int:
    """How many times the scheduler logging to `log` was refused the lock (its DEBUG lines)."""
    counts = re.findall(r"scheduler lock refused (\d+) times", log.read_text())
    return int(counts[-1]) if counts else 0


def test_one_scheduler_runs_the_other_waits_and_takes_over_after_a_kill(tmp_path, db_url):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'''[database]
url = "{db_url}"
[notices]
poll_seconds = 3600
[collectors.calls]
inbox = "inbox"
poll_seconds = 3600
[demo]
enabled = false
[logging]
level = "DEBUG"
[scheduler]
heartbeat_seconds = 0.5
stale_after_seconds = 3.0
''')
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [start(cfg, logs[0]), start(cfg, logs[1])]
    try:
        def running() -> list[int]:
            return [i for i, log in enumerate(logs) if "scheduler running" in log.read_text()]

        def settled() -> bool:  # both processes are up: one runs, the other says it waits
            texts = [log.read_text() for log in logs]
            return all("scheduler running" in t or "waiting idle" in t for t in texts)

        wait_until(settled, "both schedulers to start")
        active = running()
        assert len(active) == 1, [log.read_text() for log in logs]
        idle = 1 - active[0]
        # Absence shown by counted events, not by a pause: after the other one was running, the idle
        # one asked for the lock REFUSALS more times and was refused each time.
        target = refusals(logs[idle]) + REFUSALS
        wait_until(lambda: refusals(logs[idle]) >= target, f"{REFUSALS} more refused attempts by the idle scheduler")
        assert running() == active, [log.read_text() for log in logs]
        assert "waiting idle" in logs[idle].read_text()
        procs[active[0]].send_signal(signal.SIGKILL)
        procs[active[0]].wait()
        wait_until(lambda: idle in running(), "the idle scheduler to take over")
        procs[idle].send_signal(signal.SIGTERM)
        assert procs[idle].wait(PATIENCE_SECONDS) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

"""Two `monitor scheduler` processes on one database: exactly one runs the jobs, and when it
is killed the other takes over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PATIENCE_SECONDS = 120  # how long to wait for a process to say something; not a speed claim


def start(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, MONITOR_SECRET_KEY="test-secret")
    env.pop("MONITOR_DATABASE_URL", None)
    with log.open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(cfg), "scheduler"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_for(predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


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

        wait_for(settled, "both schedulers to start")
        time.sleep(2)  # give the idle one several heartbeats to (wrongly) start too
        active = running()
        assert len(active) == 1, [log.read_text() for log in logs]
        idle = 1 - active[0]
        assert "waiting idle" in logs[idle].read_text()
        procs[active[0]].send_signal(signal.SIGKILL)
        procs[active[0]].wait()
        wait_for(lambda: idle in running(), "the idle scheduler to take over")
        procs[idle].send_signal(signal.SIGTERM)
        assert procs[idle].wait(PATIENCE_SECONDS) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

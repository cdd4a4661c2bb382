"""The production web server: gunicorn with deploy/gunicorn.conf.py and several workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_a_worker_killed_mid_run_is_replaced_and_the_others_keep_serving(tmp_path, sqlite_url):
    port = free_port()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\nurl = "{sqlite_url}"\n[demo]\nenabled = false\n')
    env = dict(os.environ, MONITOR_CONFIG=str(cfg), MONITOR_SECRET_KEY="test-secret", MONITOR_WORKERS="2",
               MONITOR_THREADS="2", MONITOR_BIND=f"127.0.0.1:{port}",
               PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"))
    env.pop("MONITOR_DATABASE_URL", None)
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with (tmp_path / "gunicorn.log").open("wb") as log:
        master = subprocess.Popen([str(gunicorn), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                                   "monitor:create_app()"], env=env, cwd=tmp_path, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: get(base + "/readyz") == 200, f"gunicorn to be ready (log: {tmp_path / 'gunicorn.log'})",
                   tolerate=(OSError,))

        def workers() -> list[int]:
            out = subprocess.run(["pgrep", "-P", str(master.pid)], capture_output=True, text=True).stdout
            return [int(p) for p in out.split()]

        before = workers()
        assert len(before) == 2
        os.kill(before[0], signal.SIGKILL)
        statuses = [get(base + "/api/v1/components") for _ in range(30)]
        assert statuses == [200] * 30
        wait_until(lambda: len(workers()) == 2 and before[0] not in workers(), "a replacement worker")
        # The multiprocess folder was made by the config at start and holds the workers' files.
        assert (tmp_path / "prometheus").is_dir()
        assert get(base + "/metrics") == 200
    finally:
        master.send_signal(signal.SIGTERM)
        master.wait(60)

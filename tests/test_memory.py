"""The server's memory stays bounded whatever the queries: a real `monitor serve` process, its RSS read from /proc."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.test_metrics_gunicorn import free_port
from tests.waiting import wait_until

MB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """The resident set size of process `pid`, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def status_of(port: int, target: str) -> int:
    """GET `target` on a fresh connection (http.client sends a URL of any length); the status code."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", target)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def wait_until_serving(base: str, proc: subprocess.Popen, log: Path, deadline_seconds: float = 120) -> None:
    """Wait for /healthz to answer (an event, with a deadline), failing early if the process died."""
    def serving() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}: {log.read_text()}")
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200

    wait_until(serving, "the server to answer /healthz", patience=deadline_seconds, tolerate=(httpx.HTTPError,))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read a process's memory")
def test_600_distinct_large_queries_keep_the_server_within_100_mb_of_its_start(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "monitor.db"}"\n[demo]\nenabled = false\n'
                      f'[collectors.calls]\ninbox = "{tmp_path / "inbox"}"\n', encoding="utf-8")
    port = free_port()
    env = {**os.environ, "MONITOR_CONFIG": str(config), "MONITOR_SECRET_KEY": "memory-test"}
    env.pop("MONITOR_DATABASE_URL", None)
    log = tmp_path / "serve.log"
    subprocess.run([sys.executable, "-m", "monitor", "db", "upgrade"], env=env, check=True, capture_output=True)
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "serve", "--port", str(port), "--no-scheduler",
                                 "--threads", "4"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", proc, log)
        for path in ("/", "/api/v1/ratings", "/driftsstatus"):  # warm: the caches hold their normal pages
            assert status_of(port, path) == 200
        start = rss_bytes(proc.pid)
        statuses: dict[int, int] = {}
        for i in range(600):
            # Odd: the reproduction, a 200 kB query refused before any work. Even: a distinct search
            # just under the limit, rendered but not cached.
            filler = "x" * 200_000 if i % 2 else "y" * 1_900
            status = status_of(port, f"/?q={i:06d}{filler}")
            statuses[status] = statuses.get(status, 0) + 1
        grown = rss_bytes(proc.pid) - start
    finally:
        proc.terminate()
        proc.wait(30)
    assert statuses == {414: 300, 200: 300}
    assert grown < 100 * MB, f"RSS grew by {grown / MB:.0f} MB"

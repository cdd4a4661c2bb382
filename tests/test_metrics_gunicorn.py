"""Under gunicorn with two workers, every worker reports the same numbers, whoever did the work."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import need
from tests.waiting import wait_until

RECORD = """
import sys
from monitor import runs
from monitor.db import make_engine, session_factory, session_scope
engine = make_engine(sys.argv[1])
with session_scope(session_factory(engine)) as s:
    runs.increment(s, "import_rows_total", {"kind": "calls", "outcome": "imported"}, 250)
    run = runs.start_run(s, "calls")
    runs.finish_run(s, run, "success")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode()


def values(text: str, name: str) -> dict[tuple, float]:
    return {tuple(sorted(s.labels.items())): s.value
            for f in text_string_to_metric_families(text) for s in f.samples if s.name == name}


@pytest.fixture
def gunicorn(tmp_path: Path, db_url: str):
    binary = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or shutil.which("gunicorn")
    if binary is None:
        need("gunicorn is not installed")
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{db_url}"\n', encoding="utf-8")
    port = free_port()
    env = {**os.environ, "MONITOR_CONFIG": str(config), "MONITOR_SECRET_KEY": "test-secret",
           "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    proc = subprocess.Popen([binary, "-w", "2", "-b", f"127.0.0.1:{port}", "monitor:create_app()"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            if proc.poll() is not None:
                pytest.fail("gunicorn exited: " + proc.stderr.read().decode()[-2000:])
            get(base + "/healthz")
            return True

        wait_until(up, "gunicorn to answer /healthz", tolerate=(OSError,))
        yield base, db_url
    finally:
        proc.terminate()
        proc.wait()
        proc.stderr.close()


def test_both_workers_report_the_counts_recorded_by_another_process(gunicorn):
    base, db_url = gunicorn
    subprocess.run([sys.executable, "-c", RECORD, db_url], check=True)
    key = (("kind", "calls"), ("outcome", "imported"))
    seen = set()
    for _ in range(30):
        text = get(base + "/metrics")
        seen.add(values(text, "fki_import_rows_total")[key])
        assert values(text, "fki_collector_runs_total")[(("collector", "calls"), ("outcome", "success"))] == 1
    assert seen == {250.0}


def test_request_counts_are_summed_over_the_workers(gunicorn):
    base, _ = gunicorn
    key = (("endpoint", "/metrics"), ("method", "GET"), ("status", "200"))
    for served in range(40):
        # Each scrape is counted after its body is written, so it reports the ones before it,
        # whichever worker served them.
        assert values(get(base + "/metrics"), "fki_http_requests_total").get(key, 0) == served


def test_a_scrape_while_a_new_worker_is_making_its_file_counts_the_others_and_does_not_fail(tmp_path):
    # A worker's first request creates its file empty and then sizes it; a scrape by another
    # worker in that instant used to answer 500 (struct.error in prometheus-client).
    import struct

    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.mmap_dict import MmapedDict, mmap_key
    from prometheus_client.multiprocess import MultiProcessCollector

    from monitor.metrics import WorkerFiles

    written = MmapedDict(str(tmp_path / "counter_101.db"))
    written.write_value(mmap_key("fki_http_requests", "fki_http_requests_total", ["method", "endpoint", "status"],
                                 ["GET", "pages.overview", "200"], "Requests."), 7.0, 0.0)
    written.close()
    (tmp_path / "counter_102.db").touch()  # the new worker's file, not yet sized

    upstream = CollectorRegistry()
    MultiProcessCollector(upstream, path=str(tmp_path))
    with pytest.raises(struct.error):
        generate_latest(upstream)

    ours = CollectorRegistry()
    WorkerFiles(ours, path=str(tmp_path))
    text = generate_latest(ours)
    assert b'fki_http_requests_total{endpoint="pages.overview",method="GET",status="200"} 7.0' in text

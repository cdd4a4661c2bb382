"""A real Prometheus (Debian's /usr/bin/prometheus) scraping a served app, for the dashboard tests."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from flask import Flask

from tests.conftest import need
from tests.serving import serving
from tests.test_metrics_gunicorn import free_port
from tests.waiting import wait_until

DEPLOY = Path(__file__).parent.parent / "deploy"


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """`app` served in a thread on a free port; yields "127.0.0.1:PORT"."""
    try:
        with serving(app) as port:
            yield f"127.0.0.1:{port}"
    finally:
        app.extensions["monitor"].engine.dispose()


@contextmanager
def running_prometheus(tmp_path: Path, target: str, ready: Callable[[str], object], *,
                       rules: list[Path] | None = None, alertmanager: str | None = None) -> Iterator[str]:
    """Prometheus scraping `target` every second with the project's rules (or `rules`), sending its
    alerts to `alertmanager` ("127.0.0.1:PORT") when given; yields its base URL once `ready(base)` is true."""
    binary = shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)
    if binary is None:
        need("prometheus is not installed (Debian package prometheus)")
    config = tmp_path / "prometheus.yml"
    document = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in (rules or sorted((DEPLOY / "prometheus" / "rules").glob("*.yml")))],
        "scrape_configs": [{"job_name": "infrastrukturmonitor", "static_configs": [{"targets": [target]}]}]}
    if alertmanager:
        document["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    config.write_text(yaml.safe_dump(document))
    port = free_port()
    proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        def up() -> object:
            if proc.poll() is not None:
                pytest.fail("prometheus exited: " + proc.stderr.read().decode()[-2000:])  # type: ignore[union-attr]
            return ready(base)

        wait_until(up, "prometheus to start and answer", tolerate=(OSError,), every=0.5)
        yield base
    finally:
        proc.terminate()
        proc.wait()
        proc.stderr.close()  # type: ignore[union-attr]

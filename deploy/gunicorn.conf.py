"""gunicorn settings for production: `gunicorn -c deploy/gunicorn.conf.py 'monitor:create_app()'`.

Several workers with a few threads each; Prometheus multiprocess mode for the web process's
own request metrics (every other metric is read from the database, so every worker reports
the same numbers). Tune with the environment, not by editing this file.
"""

import os
import shutil
from pathlib import Path

bind = os.environ.get("MONITOR_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("MONITOR_WORKERS", "4"))
threads = int(os.environ.get("MONITOR_THREADS", "4"))
worker_class = "gthread"
# A request that takes longer than this is a bug or a dead database: the worker is replaced.
timeout = int(os.environ.get("MONITOR_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Restart workers now and then so that slow leaks never matter.
max_requests = 5000
max_requests_jitter = 500
# Worker heartbeats on tmpfs: a slow disk must not make gunicorn kill healthy workers.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
accesslog = "-" if os.environ.get("MONITOR_ACCESS_LOG") == "1" else None
errorlog = "-"
# Behind a load balancer on the same host or network: trust its X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("MONITOR_FORWARDED_ALLOW_IPS", "127.0.0.1")
proc_name = "infrastrukturmonitor"

MULTIPROC_DIR = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", "/run/infrastrukturmonitor/prometheus")


def on_starting(server):  # type: ignore[no-untyped-def]
    """Start with an empty multiprocess folder: files of dead processes would count twice."""
    path = Path(MULTIPROC_DIR)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """Tell prometheus-client a worker is gone, so its live gauges stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

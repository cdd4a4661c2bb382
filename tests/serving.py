"""A WSGI app served on a free local port in a thread, for tests that need a real HTTP server
(a browser, Prometheus); and the production server, gunicorn with deploy/gunicorn.conf.py, in
a process of its own.

Werkzeug's threaded server stops with `shutdown()`, which waits for its loop to end before the
socket is closed. Closing a waitress server from another thread instead races its `select()`
(EBADF in the server thread, reported by pytest at teardown).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent

WSGIApp = Callable[..., Any]


@contextmanager
def serving(app: WSGIApp) -> Iterator[int]:
    """Serve `app` on 127.0.0.1 until the block ends; yields the port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="test-http", daemon=True)
    thread.start()
    try:
        yield server.port
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@contextmanager
def serving_late() -> Iterator[tuple[int, Callable[[WSGIApp], None]]]:
    """Like `serving`, for an app that must know its own address before it is built: yields the
    port and a function that installs the app. Requests before that get 503."""
    holder: dict[str, WSGIApp] = {}

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        app = holder.get("app")
        if app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"not ready"]
        return app(environ, start_response)

    with serving(dispatch) as port:
        yield port, lambda app: holder.__setitem__("app", app)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get(url: str) -> int:
    """The status of a GET of `url` (4xx and 5xx included)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            status: int = r.status
            return status
    except urllib.error.HTTPError as e:
        return e.code


@dataclass(frozen=True)
class Gunicorn:
    """A running gunicorn: where it answers, its master process and its log."""

    base: str
    port: int
    master: subprocess.Popen[bytes]
    log: Path

    def workers(self) -> list[int]:
        """The pids of the master's workers now."""
        out = subprocess.run(["pgrep", "-P", str(self.master.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]


@contextmanager
def gunicorn(tmp_path: Path, config: str, workers: int = 2, **environ: str) -> Iterator[Gunicorn]:
    """`monitor:create_app()` under gunicorn with deploy/gunicorn.conf.py, `workers` workers of two threads
    and `config` as its config.toml, on a free port; yielded once /readyz answers 200 and every worker runs.

    The environment is the test's, less MONITOR_DATABASE_URL, with a secret key, a Prometheus
    multiprocess folder in `tmp_path` and `environ` on top. The log is `tmp_path`/gunicorn.log.
    """
    port = free_port()
    (tmp_path / "config.toml").write_text(config, encoding="utf-8")
    env = {**os.environ, "MONITOR_CONFIG": str(tmp_path / "config.toml"), "MONITOR_SECRET_KEY": "test-secret",
           "MONITOR_WORKERS": str(workers), "MONITOR_THREADS": "2", "MONITOR_BIND": f"127.0.0.1:{port}",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"), **environ}
    env.pop("MONITOR_DATABASE_URL", None)
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        master = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c",
                                   str(ROOT / "deploy" / "gunicorn.conf.py"), "monitor:create_app()"],
                                  env=env, cwd=tmp_path, stdout=out, stderr=out)
    server = Gunicorn(f"http://127.0.0.1:{port}", port, master, log)
    try:
        wait_until(lambda: get(server.base + "/readyz") == 200, f"gunicorn to be ready (log: {log})",
                   tolerate=(OSError,))
        wait_until(lambda: len(server.workers()) == workers, f"{workers} gunicorn workers (log: {log})")
        yield server
    finally:
        master.terminate()
        master.wait(60)

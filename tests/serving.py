"""A WSGI app served on a free local port in a thread, for tests that need a real HTTP server
(a browser, Prometheus).

Werkzeug's threaded server stops with `shutdown()`, which waits for its loop to end before the
socket is closed. Closing a waitress server from another thread instead races its `select()`
(EBADF in the server thread, reported by pytest at teardown).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server

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

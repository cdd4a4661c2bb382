"""A fetch has a total deadline: a status page that drips its answer cannot hold the collector."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from monitor.collectors.notices.poll import SourceSpec
from monitor.notify.collect import poll_sources
from tests.conftest import make_settings

T0 = dt.datetime(2021, 1, 1, 12, 0, tzinfo=dt.UTC)
BODY = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Status</title>' + b" " * 400 + b"</channel></rss>"


class Dripping:
    """A feed served one byte every half second; counts the bytes it got out before the client left."""

    def __init__(self) -> None:
        self.sent = 0
        self.done = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                try:
                    for i in range(len(BODY)):
                        self.wfile.write(BODY[i:i + 1])
                        self.wfile.flush()
                        server.sent += 1
                        if server.done.wait(0.5):
                            return
                except OSError:  # the client hung up: what the test wants to see
                    return

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/feed.rss"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.done.set()
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def dripping() -> Iterator[Dripping]:
    server = Dripping()
    yield server
    server.close()


@pytest.fixture
def settings(tmp_path, db_url):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, db_url, notices={"timeout_seconds": 2.0})


def test_a_feed_that_drips_a_byte_every_half_second_is_given_up_at_the_deadline(engine, settings, dripping) -> None:
    outcome = poll_sources(engine, settings, [SourceSpec("drip", dripping.url, "feed")], now=T0)[0]
    assert not outcome.ok
    assert "not complete after 2s (timeout_seconds)" in outcome.summary
    # Every read came within the per-read timeout, so only the total deadline stopped it:
    # the whole answer would take more than three minutes; the client left after a few seconds' worth.
    assert dripping.sent < len(BODY) // 10

"""Limits on what a status page can bring in: bytes per document (while streaming), items, update text."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.collectors.notices.feedparse import parse_feed
from monitor.collectors.notices.limits import apply_limits, cut_body
from monitor.collectors.notices.poll import SourceSpec
from monitor.models import CounterValue, Notice, NoticeSource, NoticeUpdate
from monitor.notify.collect import poll_sources
from monitor.settings import NoticesSettings
from tests.conftest import make_settings

FIXTURES = Path(__file__).parent / "fixtures"
PARSE_RSS = FIXTURES / "statuspage-parse-history.rss"
T0 = dt.datetime(2021, 1, 1, 12, 0, tzinfo=dt.UTC)
MB = 1_000_000


def item(n: int, day: int = 1, body: str = "ok") -> str:
    return (f"<item><title>Hændelse {n}</title><guid>https://status.example/incidents/{n}</guid>"
            f"<link>https://status.example/incidents/{n}</link>"
            f"<pubDate>{day:02d} Dec 2020 10:00:00 +0000</pubDate><description>&lt;p&gt;&lt;small&gt;Dec {day}, "
            f"10:00 UTC&lt;/small&gt;&lt;br&gt;&lt;strong&gt;Investigating&lt;/strong&gt; - {body}&lt;/p&gt;"
            "</description></item>")


def rss(*items: str) -> bytes:
    return ('<?xml version="1.0"?><rss version="2.0"><channel><title>Status</title>'
            + "".join(items) + "</channel></rss>").encode()


class HugeFeed:
    """An HTTP server streaming a feed of `size` bytes without Content-Length; counts what it wrote."""

    def __init__(self, size: int) -> None:
        self.size, self.written, self.done = size, 0, threading.Event()
        feed = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the body ends when the connection closes

            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.end_headers()
                chunk = item(1).encode() * 200
                try:
                    self.wfile.write(rss()[:-len("</channel></rss>")])
                    while feed.written < feed.size:
                        self.wfile.write(chunk)
                        feed.written += len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading: what we want
                finally:
                    feed.done.set()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/history.rss"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def huge_feed() -> Iterator[HugeFeed]:
    server = HugeFeed(50 * MB)
    yield server
    server.close()


def hits(session, limit: str) -> float:  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.scalar(select(CounterValue.value).where(
        CounterValue.metric == "limit_hits_total", CounterValue.labels == f"limit={limit}")) or 0


def counts(session) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return (session.scalar(select(func.count()).select_from(Notice)) or 0,
            session.scalar(select(func.count()).select_from(NoticeUpdate)) or 0)


def test_a_50_mb_feed_is_refused_within_its_cap_and_the_last_good_state_stays(
        tmp_path, db_url, engine, session, huge_feed) -> None:
    settings = make_settings(tmp_path, db_url, notices={"max_feed_bytes": 2 * MB})
    good = tmp_path / "status.rss"
    shutil.copy(PARSE_RSS, good)
    assert poll_sources(engine, settings, [SourceSpec("status", str(good), "feed")], now=T0)[0].ok
    before = counts(session)
    # The same source now answers with 50 MB over HTTP.
    outcome = poll_sources(engine, settings, [SourceSpec("status", huge_feed.url, "feed")],
                           now=T0 + dt.timedelta(minutes=1))[0]
    assert not outcome.ok and "max_feed_bytes" in outcome.summary and "2,000,000" in outcome.summary
    assert huge_feed.done.wait(60)
    # Reading stopped at the cap: the server got far less than the 50 MB out (socket buffers aside).
    assert huge_feed.written < 12 * MB
    assert counts(session) == before
    src = session.scalars(select(NoticeSource).where(NoticeSource.name == "status")).one()
    assert src.consecutive_failures == 1 and "max_feed_bytes" in src.last_error and src.last_success_at == T0
    assert hits(session, "max_feed_bytes") == 1


def test_a_feed_file_larger_than_the_cap_is_refused_without_being_read(tmp_path, db_url, engine, session) -> None:
    settings = make_settings(tmp_path, db_url, notices={"max_feed_bytes": 4096})
    feed = tmp_path / "big.rss"
    feed.write_bytes(rss(*(item(n) for n in range(100))))
    outcome = poll_sources(engine, settings, [SourceSpec("big", str(feed), "feed")], now=T0)[0]
    assert not outcome.ok and "larger than max_feed_bytes (4,096 bytes)" in outcome.summary
    assert counts(session) == (0, 0) and hits(session, "max_feed_bytes") == 1


def test_only_the_newest_max_items_notices_are_kept_and_the_cut_is_reported(tmp_path, db_url, engine, session) -> None:
    settings = make_settings(tmp_path, db_url, notices={"max_items": 3})
    feed = tmp_path / "many.rss"
    feed.write_bytes(rss(*(item(n, day=n) for n in range(1, 11))))
    outcome = poll_sources(engine, settings, [SourceSpec("many", str(feed), "feed")], now=T0)[0]
    assert outcome.ok and "7 older item(s) left out: max_items is 3" in outcome.summary
    session.expire_all()
    kept = sorted(session.scalars(select(Notice.upstream_id)))
    assert kept == sorted(f"https://status.example/incidents/{n}" for n in (8, 9, 10))
    assert hits(session, "max_items") == 1


def test_an_update_text_longer_than_max_update_bytes_is_cut_and_marked(tmp_path, db_url, engine, session) -> None:
    settings = make_settings(tmp_path, db_url, notices={"max_update_bytes": 1024})
    feed = tmp_path / "long.rss"
    feed.write_bytes(rss(item(1, body="æøå &amp;amp; " * 5000)))
    outcome = poll_sources(engine, settings, [SourceSpec("long", str(feed), "feed")], now=T0)[0]
    assert outcome.ok and "1 update text(s) longer than max_update_bytes (1,024 bytes) were cut" in outcome.summary
    session.expire_all()
    body = session.scalars(select(NoticeUpdate.body_html)).one()
    assert len(body.encode()) <= 1024 and body.endswith("[…]") and body.startswith("æøå &amp;")
    assert hits(session, "max_update_bytes") == 1


@pytest.mark.parametrize("limit", [64, 257, 1000, 4096])
def test_a_cut_body_always_fits_its_limit_even_when_escaping_grows_it(limit: int) -> None:
    for text in ("&" * 10_000, "<b>" + "ø" * 9000 + "</b>", "a < b & c > d " * 900):
        cut = cut_body(text, limit)
        assert len(cut.encode()) <= limit and cut.endswith("[…]")


def test_limits_keep_a_document_within_the_defaults_unchanged() -> None:
    result = parse_feed(PARSE_RSS.read_bytes(), T0)
    before = [(n.upstream_id, [u.body_html for u in n.updates]) for n in result.notices]
    assert apply_limits(result, NoticesSettings()) == []
    assert [(n.upstream_id, [u.body_html for u in n.updates]) for n in result.notices] == before


def test_a_complete_item_after_a_broken_one_is_kept(tmp_path, db_url, engine, session) -> None:
    broken = "<item><title>Brudt</title><guid>https://status.example/incidents/b</guid><description>x <b>åben"
    content = rss(item(1), broken + "</description>", item(3))
    result = parse_feed(content, T0)
    assert [n.upstream_id for n in result.notices] == ["https://status.example/incidents/1",
                                                       "https://status.example/incidents/3"]
    assert any("broken" in p for p in result.problems)
    feed = tmp_path / "broken.rss"
    feed.write_bytes(content)
    settings = make_settings(tmp_path, db_url)
    outcome = poll_sources(engine, settings, [SourceSpec("broken", str(feed), "feed")], now=T0)[0]
    assert not outcome.ok  # reported, and shown on the service-health page
    assert counts(session)[0] == 2


def test_the_limits_are_validated_at_start() -> None:
    from monitor.settings import ConfigError, from_mapping

    with pytest.raises(ConfigError, match="notices.max_items"):
        from_mapping({"notices": {"max_items": 0}}, environ={})
    with pytest.raises(ConfigError, match="web.max_query_bytes"):
        from_mapping({"web": {"max_query_bytes": 10}}, environ={})

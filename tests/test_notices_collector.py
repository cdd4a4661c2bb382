"""The notice collector against real files and a real local HTTP server, on both databases."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.collectors.notices import poll as collector
from monitor.collectors.notices.kinds import KINDS
from monitor.collectors.notices.poll import SourceSpec
from monitor.models import CollectorRun, Notice, NoticeSource, NoticeUpdate
from monitor.notify import outbox
from monitor.notify.collect import poll_all, poll_sources
from tests.cli_helpers import run_cli
from tests.conftest import make_settings

FIXTURES = Path(__file__).parent / "fixtures"
FEEDS = FIXTURES / "feeds"
PARSE_RSS = FIXTURES / "statuspage-parse-history.rss"
DANISH = FEEDS / "danish-status.rss"
T0 = dt.datetime(2021, 1, 1, 12, 0, tzinfo=dt.UTC)


class Upstream:
    """A status page served from memory: path → (status, body, etag); records request headers."""

    def __init__(self) -> None:
        self.documents: dict[str, tuple[int, bytes, str | None]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.release = threading.Event()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                upstream.requests.append((self.path, dict(self.headers)))
                if self.path == "/slow":
                    upstream.release.wait(30)
                status, body, etag = upstream.documents.get(self.path, (404, b"not found", None))
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(status)
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[NoticeUpdate]:
    """Every update handed to the outbox (the outbox itself is another module's business)."""
    calls: list[NoticeUpdate] = []

    def enqueue(session: Session, update: NoticeUpdate) -> int:
        assert update.id is not None and not update.backfilled
        calls.append(update)
        return 1

    monkeypatch.setattr(outbox, "enqueue_for_update", enqueue)
    return calls


def counts(session: Session) -> tuple[int, int]:
    session.expire_all()
    return (session.scalar(select(func.count()).select_from(Notice)) or 0,
            session.scalar(select(func.count()).select_from(NoticeUpdate)) or 0)


def source_row(session: Session, name: str) -> NoticeSource:
    session.expire_all()
    return session.scalars(select(NoticeSource).where(NoticeSource.name == name)).one()


def feed_spec(path: Path, name: str = "feed", components: tuple[str, ...] = ()) -> SourceSpec:
    return SourceSpec(name, str(path), "feed", components)


def poll(engine, settings, spec, now=T0):  # type: ignore[no-untyped-def]
    return poll_sources(engine, settings, [spec], now=now)[0]


def test_the_first_poll_is_a_backfill_that_notifies_nobody(engine, settings, session, tmp_path, queued) -> None:
    feed = tmp_path / "status.rss"
    shutil.copy(PARSE_RSS, feed)
    outcome = poll(engine, settings, feed_spec(feed))
    assert outcome.ok and "backfill" in outcome.summary
    assert counts(session) == (17, 38)
    assert queued == []
    assert all(n.backfilled for n in session.scalars(select(Notice)))
    assert all(u.backfilled for u in session.scalars(select(NoticeUpdate)))
    assert source_row(session, "feed").backfilled_at == T0


def test_re_polling_the_same_feed_many_times_changes_nothing(engine, settings, session, tmp_path, queued) -> None:
    feed = tmp_path / "status.rss"
    shutil.copy(PARSE_RSS, feed)
    poll(engine, settings, feed_spec(feed))
    before = [(u.id, u.status, u.at, u.body_html) for u in session.scalars(select(NoticeUpdate).order_by(NoticeUpdate.id))]
    for i in range(3):
        feed.write_bytes(PARSE_RSS.read_bytes() + b"\n" * (i + 1))  # a new mtime and size: read again
        assert poll(engine, settings, feed_spec(feed), T0 + dt.timedelta(minutes=i + 1)).ok
    session.expire_all()
    after = [(u.id, u.status, u.at, u.body_html) for u in session.scalars(select(NoticeUpdate).order_by(NoticeUpdate.id))]
    assert after == before
    assert queued == []


def test_an_unchanged_file_is_not_even_parsed(engine, settings, session, tmp_path, monkeypatch) -> None:
    feed = tmp_path / "status.rss"
    shutil.copy(DANISH, feed)
    poll(engine, settings, feed_spec(feed))
    monkeypatch.setattr(KINDS["feed"], "parse", lambda *a: pytest.fail("parsed an unchanged file"))
    assert poll(engine, settings, feed_spec(feed)).summary == "not modified"


def test_new_updates_after_the_backfill_are_queued_once(engine, settings, session, tmp_path, queued) -> None:
    feed = tmp_path / "status.rss"
    original = DANISH.read_text("utf-8")
    feed.write_text(original, "utf-8")
    poll(engine, settings, feed_spec(feed))
    resolved = ("&lt;p&gt;&lt;small&gt;Jan  1, 02:15 CET&lt;/small&gt;&lt;br&gt;&lt;strong&gt;Løst&lt;/strong&gt;"
                " - Svartiderne er normale igen.&lt;/p&gt;")
    changed = original.replace("<description>&lt;p&gt;&lt;small&gt;Jan  1, 01:30", f"<description>{resolved}&lt;p&gt;&lt;small&gt;Jan  1, 01:30")
    feed.write_text(changed, "utf-8")
    outcome = poll(engine, settings, feed_spec(feed), T0 + dt.timedelta(minutes=1))
    assert outcome.ok and "1 new update(s)" in outcome.summary
    assert [(u.status, u.at) for u in queued] == [("resolved", dt.datetime(2021, 1, 1, 1, 15, tzinfo=dt.UTC))]
    notice = session.scalars(select(Notice).where(Notice.upstream_id.like("%cpr-nytaar"))).one()
    assert notice.status == "resolved" and notice.resolved_at == dt.datetime(2021, 1, 1, 1, 15, tzinfo=dt.UTC)
    feed.write_text(changed + "\n", "utf-8")
    poll(engine, settings, feed_spec(feed), T0 + dt.timedelta(minutes=2))
    assert len(queued) == 1


def test_a_new_notice_after_the_backfill_queues_each_of_its_updates(engine, settings, session, tmp_path, queued) -> None:
    feed = tmp_path / "status.rss"
    text = DANISH.read_text("utf-8")
    start, end = text.index("    <item>"), text.index("    </item>") + len("    </item>\n")
    feed.write_text(text[:start] + text[end:], "utf-8")  # without the newest item
    poll(engine, settings, feed_spec(feed))
    feed.write_text(text, "utf-8")
    poll(engine, settings, feed_spec(feed), T0 + dt.timedelta(minutes=1))
    assert [u.status for u in queued] == ["investigating", "monitoring"]
    new = session.scalars(select(Notice).where(Notice.upstream_id.like("%cpr-nytaar"))).one()
    assert not new.backfilled and new.first_seen_at == T0 + dt.timedelta(minutes=1)


def test_an_upstream_edit_of_a_text_changes_the_text_and_notifies_nobody(engine, settings, session, tmp_path, queued) -> None:
    feed = tmp_path / "status.rss"
    shutil.copy(DANISH, feed)
    poll(engine, settings, feed_spec(feed))
    feed.write_text(DANISH.read_text("utf-8").replace("En fejlende node er fundet.", "En fejlende netværksnode er fundet."), "utf-8")
    outcome = poll(engine, settings, feed_spec(feed), T0 + dt.timedelta(minutes=1))
    assert "1 edited" in outcome.summary
    assert queued == []
    assert counts(session) == (3, 8)
    bodies = set(session.scalars(select(NoticeUpdate.body_html)))
    assert "En fejlende netværksnode er fundet." in bodies and "En fejlende node er fundet." not in bodies


def test_components_come_from_affected_lines_keywords_and_source_defaults(engine, settings, session, tmp_path) -> None:
    feed = tmp_path / "status.rss"
    shutil.copy(DANISH, feed)
    poll(engine, settings, feed_spec(feed, components=("administrationsmodul",)))
    got = {n.upstream_id.rsplit("/", 1)[1]: sorted(c.component_slug for c in n.components)
           for n in session.scalars(select(Notice))}
    assert got == {"org-vedligehold": ["klassifikation", "organisation"],
                   "beskeder-forsinket": ["beskedfordeler"],
                   "cpr-nytaar": ["serviceplatformen"]}  # "CPR" and "SF1520" are its keywords
    feed2 = tmp_path / "other.rss"
    shutil.copy(FEEDS / "staffbase-history.rss", feed2)
    poll(engine, settings, feed_spec(feed2, "other", ("administrationsmodul",)))
    other = session.scalars(select(Notice).where(Notice.upstream_id.like("%staffbase%"))).all()
    assert {tuple(c.component_slug for c in n.components) for n in other} == {("administrationsmodul",)}


def test_a_relative_path_in_the_config_is_read_from_the_config_folder(db_url, tmp_path, engine, session) -> None:
    (tmp_path / "var").mkdir()
    shutil.copy(DANISH, tmp_path / "var" / "demo-status.rss")
    settings = make_settings(tmp_path, db_url, notices={"sources": [
        {"name": "Demo", "url": "var/demo-status.rss", "kind": "feed"}]})
    poll_all(engine, settings, now=T0)
    assert counts(session) == (3, 8)
    assert source_row(session, "Demo").url == str(tmp_path / "var" / "demo-status.rss")


@pytest.mark.parametrize("broken", ["truncated", "garbage", "empty", "html"])
def test_a_broken_feed_keeps_the_last_good_state_and_is_recorded(engine, settings, session, tmp_path, broken) -> None:
    feed = tmp_path / "status.rss"
    shutil.copy(PARSE_RSS, feed)
    poll(engine, settings, feed_spec(feed))
    good = counts(session)
    content = {"truncated": PARSE_RSS.read_bytes()[:7000], "garbage": b"\x00\x01garbage\xff",
               "empty": b"", "html": b"<html><body>502 Bad Gateway</body></html>"}[broken]
    feed.write_bytes(content)
    later = T0 + dt.timedelta(minutes=1)
    outcome = poll(engine, settings, feed_spec(feed), later)
    assert not outcome.ok
    assert counts(session) == good
    src = source_row(session, "feed")
    assert src.consecutive_failures == 1 and src.last_failure_at == later and src.last_error
    assert src.last_success_at == T0
    run = session.scalars(select(CollectorRun).order_by(CollectorRun.id.desc())).first()
    assert run is not None and (run.collector, run.outcome) == ("notices", "failure")
    assert "FAILED" in run.message
    feed.write_bytes(PARSE_RSS.read_bytes())  # fixed upstream: read whole again
    assert poll(engine, settings, feed_spec(feed), later + dt.timedelta(minutes=1)).ok
    assert source_row(session, "feed").consecutive_failures == 0


def test_a_truncated_first_poll_keeps_its_complete_items_but_is_not_yet_the_backfill(
        engine, settings, session, tmp_path, queued) -> None:
    feed = tmp_path / "status.rss"
    feed.write_bytes(PARSE_RSS.read_bytes()[:7000])
    outcome = poll(engine, settings, feed_spec(feed))
    assert not outcome.ok and any("cut off" in p for p in outcome.problems)
    assert counts(session)[0] == 3
    assert source_row(session, "feed").backfilled_at is None
    feed.write_bytes(PARSE_RSS.read_bytes())
    poll(engine, settings, feed_spec(feed), T0 + dt.timedelta(minutes=1))
    assert counts(session) == (17, 38) and queued == []  # the rest of the history is history too


def test_a_feed_over_http_is_fetched_conditionally_and_a_304_changes_nothing(engine, settings, session, upstream) -> None:
    upstream.documents["/history.rss"] = (200, DANISH.read_bytes(), '"v1"')
    spec = SourceSpec("http", f"{upstream.url}/history.rss", "feed")
    assert poll(engine, settings, spec).ok
    assert source_row(session, "http").etag == '"v1"'
    outcome = poll(engine, settings, spec, T0 + dt.timedelta(minutes=1))
    assert outcome.summary == "not modified"
    path, headers = upstream.requests[-1]
    assert headers.get("If-None-Match") == '"v1"'
    assert headers.get("User-Agent", "").startswith("Infrastrukturmonitor/")
    assert counts(session) == (3, 8)
    assert source_row(session, "http").last_success_at == T0 + dt.timedelta(minutes=1)


@pytest.mark.parametrize("status", [500, 503, 404])
def test_http_errors_are_recorded_and_back_off_without_raising(engine, settings, session, upstream, status) -> None:
    upstream.documents["/history.rss"] = (status, b"oops", None)
    spec = SourceSpec("http", f"{upstream.url}/history.rss", "feed")
    outcome = poll(engine, settings, spec)
    assert not outcome.ok and f"HTTP {status}" in outcome.summary
    src = source_row(session, "http")
    assert src.consecutive_failures == 1 and f"HTTP {status}" in (src.last_error or "")
    assert collector._backing_off(src, settings, T0 + dt.timedelta(seconds=30))
    assert not collector._backing_off(src, settings, T0 + dt.timedelta(seconds=60))


def test_a_timeout_is_recorded_without_raising(db_url, tmp_path, engine, session, upstream) -> None:
    settings = make_settings(tmp_path, db_url, notices={"timeout_seconds": 0.2})
    outcome = poll(engine, settings, SourceSpec("slow", f"{upstream.url}/slow", "feed"))
    assert not outcome.ok and "timed out" in outcome.summary
    assert source_row(session, "slow").consecutive_failures == 1


def test_a_refused_connection_is_recorded_without_raising(engine, settings, session) -> None:
    outcome = poll(engine, settings, SourceSpec("down", "http://127.0.0.1:9/history.rss", "feed"))
    assert not outcome.ok and "ConnectError" in outcome.summary


def test_poll_all_never_raises_and_skips_sources_in_backoff(db_url, tmp_path, engine, session, upstream) -> None:
    upstream.documents["/history.rss"] = (500, b"", None)
    settings = make_settings(tmp_path, db_url, notices={"sources": [
        {"name": "down", "url": f"{upstream.url}/history.rss", "kind": "feed"}]})
    poll_all(engine, settings, now=T0)
    poll_all(engine, settings, now=T0 + dt.timedelta(seconds=20))  # in backoff: not asked
    assert len(upstream.requests) == 1
    poll_all(engine, settings, now=T0 + dt.timedelta(seconds=61))
    assert len(upstream.requests) == 2
    assert source_row(session, "down").consecutive_failures == 2


def test_a_statuspage_json_api_over_http_is_read_with_impact(engine, settings, session, upstream) -> None:
    for name in ("incidents", "scheduled-maintenances", "components"):
        upstream.documents[f"/api/v2/{name}.json"] = (200, (FEEDS / "discordstatus" / f"{name}.json").read_bytes(),
                                                      f'"{name}"')
    spec = SourceSpec("discord", upstream.url, "statuspage")
    assert poll(engine, settings, spec).ok
    notices = {n.upstream_id: n for n in session.scalars(select(Notice))}
    assert notices["n4njzfn1mqy0"].impact == "minor"
    assert notices["chkt3cr0jf7b"].kind == "maintenance"
    assert notices["chkt3cr0jf7b"].scheduled_for == dt.datetime(2015, 9, 22, 8, 0, tzinfo=dt.UTC)
    assert counts(session) == (2, 8)
    assert poll(engine, settings, spec, T0 + dt.timedelta(minutes=1)).summary == "not modified"
    assert all(h.get("If-None-Match") for _, h in upstream.requests[-3:])


def test_collect_notices_guesses_the_kind_and_names_the_source_by_its_path(engine, settings, session, tmp_path,
                                                                           monkeypatch) -> None:
    feed = tmp_path / "github.atom"
    shutil.copy(FEEDS / "githubstatus-history.atom", feed)
    assert run_cli(monkeypatch, settings, "collect", "notices", "--source", str(feed)).exit_code == 0
    assert source_row(session, str(feed)).kind == "feed"
    statuspage = str(FEEDS / "discordstatus")
    assert run_cli(monkeypatch, settings, "collect", "notices", "--source", statuspage).exit_code == 0
    assert source_row(session, statuspage).kind == "statuspage"
    assert counts(session) == (8, 30)
    broken = tmp_path / "broken.rss"
    broken.write_bytes(b"")
    result = run_cli(monkeypatch, settings, "collect", "notices", "--source", str(broken), "--kind", "feed")
    assert result.exit_code == 1
    assert any("FAILED" in line and "empty" in line for line in result.stdout.splitlines())


def test_collect_notices_without_sources_says_there_is_nothing_to_poll(settings, monkeypatch) -> None:
    result = run_cli(monkeypatch, settings, "collect", "notices")
    assert (result.exit_code, result.stdout) == (0, "no [[notices.sources]] in the configuration; nothing to poll\n")

"""Every request is bounded and answered 2xx, 3xx or 4xx on any input (503 when the database is away)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from monitor import metrics
from monitor.collectors.notices.poll import SourceSpec
from monitor.doccache import DocumentCache as PageCache
from monitor.doccache import approximate_size
from monitor.notify.collect import poll_sources
from monitor.web.pages.cache import cache

SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options")


def test_a_query_string_over_max_query_bytes_gets_414_with_the_security_headers(client) -> None:
    for path in ("/?q=", "/api/v1/ratings?as_of=", "/notices.atom?component="):
        response = client.get(path + "x" * 3000)
        assert response.status_code == 414, path
        assert all(h in response.headers for h in SECURITY_HEADERS)
        assert b"at most 2048" in response.data
    assert client.get("/api/v1/ratings?x=" + "x" * 3000).get_json()["error"].startswith("the query string is")
    assert client.get("/?q=" + "x" * 2000).status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/notices?component=%00", "/api/v1/notices?status=all&component=a%00b",
                                  "/notices.atom?component=%00", "/?q=%00", "/api/v1/ratings?as_of=2020-01-01%00",
                                  "/api/v1/cutover?now=%1b"])
def test_a_control_character_in_a_query_value_is_a_400_on_both_databases(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 400 and b"control character" in response.data


@pytest.mark.parametrize("path", [
    "/api/v1/ratings?as_of=0001-01-01", "/api/v1/municipalities/101?as_of=0002-01-01",
    "/api/v1/ratings?as_of=1999-12-31", "/api/v1/ratings?as_of=2100-01-01", "/api/v1/ratings?as_of=",
    "/api/v1/ratings?as_of=%D9%A2%D9%A0%D9%A2%D9%A0-01-01", "/api/v1/ratings?as_of=20201128", "/api/v1/ratings?as_of=2020-W01-1",
    "/api/v1/cutover?now=0001-01-01T00:00:00%2B00:00", "/api/v1/cutover?now=9999-12-31T23:59:59-14:00",
    "/api/v1/cutover?now=", "/api/v1/cutover?now=2020-11-28T12:00:00", "/api/v1/notices?component=",
])
def test_days_and_instants_out_of_range_or_malformed_are_a_400_naming_the_parameter(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 400, response.data
    assert response.get_json()["error"].split(":")[0] in ("as_of", "now", "component")


@pytest.mark.parametrize("code,status", [("101", 200), ("0101", 200), ("00101", 404), ("101 ", 404),
                                         ("%20101", 404), ("%D9%A1%D9%A0%D9%A1", 404), ("1010", 404),
                                         ("999", 404), ("abc", 404), ("０１０１", 404)])
def test_the_municipality_page_and_the_api_agree_on_every_code(client, code: str, status: int) -> None:
    assert client.get(f"/kommune/{code}").status_code == status
    assert client.get(f"/api/v1/municipalities/{code}").status_code == status


def test_made_up_methods_are_counted_as_other_and_paths_never_become_labels(client) -> None:
    before = len(list(metrics.HTTP_REQUESTS.collect())[0].samples)
    for i in range(30):
        client.open(f"/no/such/page/{i}", method=f"M{i}" + "X" * 100)
    client.open("/api/v1/components", method="BREW")
    samples = list(metrics.HTTP_REQUESTS.collect())[0].samples
    methods = {s.labels["method"] for s in samples}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert "other" in methods
    assert not any("/no/such" in s.labels["endpoint"] for s in samples)
    assert len(samples) - before <= 4  # at most one new series per (endpoint, status) seen


def test_the_page_cache_stays_within_its_byte_budget_and_drops_the_oldest() -> None:
    page = "x" * 100_000
    size = approximate_size(("k", 0)) + approximate_size(page)
    cache_ = PageCache(size=1000, max_bytes=size * 5)
    for i in range(50):
        cache_.get_or_compute(("k", i), lambda: "x" * 100_000)
    assert cache_.bytes <= cache_.max_bytes and len(cache_) == 5
    assert cache_.get_or_compute(("k", 49), lambda: "recomputed") == page
    assert cache_.get_or_compute(("k", 0), lambda: "recomputed") == "recomputed"


def test_an_entry_larger_than_a_quarter_of_the_budget_is_served_but_not_kept() -> None:
    cache_ = PageCache(max_bytes=100_000)
    assert cache_.get_or_compute("big", lambda: "y" * 50_000) == "y" * 50_000
    assert len(cache_) == 0 and cache_.bytes == 0


def test_nested_documents_are_measured_deeply() -> None:
    doc = {"ratings": [{"name": "x" * 1000, "parts": {"a": [1.5] * 100}} for _ in range(50)]}
    assert approximate_size(doc) > 50 * 1000


def test_searches_and_made_up_arguments_do_not_add_cache_entries(app, client) -> None:
    assert client.get("/").status_code == 200
    with app.app_context():
        entries = len(cache())
    for i in range(20):
        assert client.get(f"/?q=søgning{i}").status_code == 200
        assert client.get(f"/?whatever={i}").status_code == 200
    with app.app_context():
        assert len(cache()) == entries


def _feed_with_link(link: str) -> bytes:
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>S</title><item><title>Ondt link</title>'
            f"<guid>https://status.example/incidents/1</guid><link>{link}</link>"
            "<pubDate>Tue, 24 Nov 2020 10:00:00 +0000</pubDate><description>&lt;p&gt;&lt;small&gt;Nov 24, 10:00 "
            "UTC&lt;/small&gt;&lt;br&gt;&lt;strong&gt;Investigating&lt;/strong&gt; - se "
            "&lt;a href=&quot;javascript:alert(2)&quot;&gt;her&lt;/a&gt;&lt;/p&gt;</description></item>"
            "</channel></rss>").encode()


def test_javascript_links_from_upstream_reach_neither_page_nor_atom_nor_api(app, client, engine, settings,
                                                                            tmp_path, now) -> None:
    feed = tmp_path / "evil.rss"
    feed.write_bytes(_feed_with_link("javascript:alert(1)"))
    poll_sources(engine, settings, [SourceSpec("evil", str(feed), "feed")], now=now)
    for path in ("/driftsstatus", "/notices.atom", "/api/v1/notices?status=all"):
        body = client.get(path).data.lower()
        assert b"ondt link" in body, path
        assert b"javascript:" not in body, path
    assert client.get("/api/v1/notices?status=all").get_json()["notices"][0]["url"] is None


def test_a_javascript_link_stored_before_the_rule_is_dropped_on_the_way_out(app, client, engine, settings,
                                                                           tmp_path, now) -> None:
    from monitor.models import Notice, NoticeUpdate

    feed = tmp_path / "ok.rss"
    feed.write_bytes(_feed_with_link("https://status.example/incidents/1"))
    poll_sources(engine, settings, [SourceSpec("ok", str(feed), "feed")], now=now)
    with Session(engine) as s, s.begin():  # as an older version might have stored it
        s.query(Notice).update({"url": "javascript:alert(1)"})
        s.query(NoticeUpdate).update({"body_html": '<a href="javascript:alert(3)">x</a>'})
    for path in ("/driftsstatus", "/notices.atom", "/api/v1/notices?status=all"):
        assert b"javascript:" not in client.get(path).data.lower(), path


def test_a_session_whose_close_fails_turns_the_answer_into_503_with_retry_after(app, client, monkeypatch) -> None:
    def broken_close(self: Session) -> None:
        raise OperationalError("ROLLBACK", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(Session, "close", broken_close)
    for path in ("/api/v1/components", "/driftsstatus"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert response.headers["Retry-After"] == "5"
        assert all(h in response.headers for h in SECURITY_HEADERS)
    monkeypatch.undo()
    assert client.get("/api/v1/components").status_code == 200

"""The Atom feed of notices, read back with feedparser as a feed reader would."""

from __future__ import annotations

import feedparser
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.notify_helpers import add_notice, add_update


def read(client: FlaskClient, path: str = "/notices.atom") -> feedparser.FeedParserDict:
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    feed = feedparser.parse(response.data)
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


def test_an_empty_feed_is_valid_atom(client: FlaskClient) -> None:
    feed = read(client)
    assert feed.version == "atom10"
    assert feed.entries == []
    assert feed.feed.title.startswith("Driftsmeddelelser")


def test_each_notice_is_one_entry_with_its_timeline_and_components(client: FlaskClient, session: Session) -> None:
    first = add_notice(session, components=("serviceplatformen", "organisation"), upstream_id="a")
    add_update(session, first, "resolved", 30, body="<p>Alt virker igen.</p>")
    add_notice(session, components=(), upstream_id="b", title="Planlagt opdatering", kind="maintenance",
               status="scheduled")
    session.commit()
    feed = read(client)
    assert len(feed.entries) == 2
    entry = next(e for e in feed.entries if e.title.startswith("Forsinkelser"))
    assert entry.id == f"tag:127.0.0.1,2020:notice-{first.notice_id}"
    assert entry.link == f"http://127.0.0.1:8000/driftsstatus#notice-{first.notice_id}"
    assert sorted(t.term for t in entry.tags) == ["organisation", "serviceplatformen"]
    content = entry.content[0].value
    assert content.index("Alt virker igen.") < content.index("Vi undersøger forsinkede svar.")  # newest first
    assert entry.updated == "2020-11-28T10:30:00+01:00"  # the same instant, in Copenhagen time


def test_the_feed_for_one_component_holds_only_its_notices(client: FlaskClient, session: Session) -> None:
    add_notice(session, components=("serviceplatformen",), upstream_id="a", title="SP")
    add_notice(session, components=("beskedfordeler",), upstream_id="b", title="BF")
    session.commit()
    feed = read(client, "/notices.atom?component=beskedfordeler")
    assert [e.title.split(" (")[0] for e in feed.entries] == ["BF"]
    assert "Beskedfordeler" in feed.feed.title
    assert feed.feed.id == "tag:127.0.0.1,2020:notices:beskedfordeler"


def test_an_unknown_component_is_not_found(client: FlaskClient) -> None:
    assert client.get("/notices.atom?component=nope").status_code == 404


def test_hostile_text_in_a_notice_stays_text_in_the_feed(client: FlaskClient, session: Session) -> None:
    add_notice(session, title="<script>alert(1)</script> & co", body='<p>ok</p><script>x()</script><img src=x onerror=y()>')
    session.commit()
    raw = client.get("/notices.atom").get_data(as_text=True)
    assert "<script>" not in raw
    feed = read(client)
    [entry] = feed.entries
    assert entry.title.startswith("<script>alert(1)</script> & co")  # as text, escaped in the XML
    assert "x()" not in entry.content[0].value and "onerror" not in entry.content[0].value

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


def test_the_feed_is_danish_by_default_with_status_words_and_copenhagen_times(client: FlaskClient,
                                                                                session: Session) -> None:
    first = add_notice(session, upstream_id="a", kind="maintenance", status="in_progress")
    add_update(session, first, "completed", 30, body="<p>Færdig.</p>")
    session.commit()
    response = client.get("/notices.atom")
    raw = response.data
    assert b'xml:lang="da"' in raw and response.headers["Content-Language"] == "da"
    assert b"in_progress" not in raw and b"completed" not in raw and b"(scheduled)" not in raw
    [entry] = read(client).entries
    assert entry.title == "Forsinkelser på Serviceplatformen"  # the operator's title, nothing added
    content = entry.content[0].value
    assert "Vedligeholdelse · I gang · Serviceplatformen" in content
    assert "<strong>Afsluttet</strong> · 28.11.2020 kl. 10:30 CET" in content
    assert "<strong>I gang</strong> · 28.11.2020 kl. 10:00 CET" in content
    assert entry.published == "2020-11-28T10:00:00+01:00"


def test_lang_en_gives_the_feed_in_english_under_its_own_id(client: FlaskClient, session: Session) -> None:
    add_notice(session, upstream_id="a", status="resolved")
    session.commit()
    raw = client.get("/notices.atom?lang=en").data
    assert b'xml:lang="en"' in raw
    feed = read(client, "/notices.atom?lang=en")
    assert feed.feed.title.startswith("Operational notices")
    assert feed.feed.id == "tag:127.0.0.1,2020:notices:en"
    content = feed.entries[0].content[0].value
    assert "Service disruption · Resolved · Serviceplatformen" in content
    assert "<strong>Resolved</strong> · 28 Nov 2020, 10:00 CET" in content
    assert "Løst" not in content and "kl." not in content


def test_the_feed_language_is_chosen_by_the_address_alone(client: FlaskClient, session: Session) -> None:
    add_notice(session, upstream_id="a", status="resolved")
    session.commit()
    client.set_cookie("lang", "en")  # a feed reader sends no cookie; a browser's choice must not leak in
    assert b'xml:lang="da"' in client.get("/notices.atom").data
    assert b'xml:lang="da"' in client.get("/notices.atom?lang=xx").data

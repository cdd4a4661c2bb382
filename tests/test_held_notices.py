"""A poll that brings more than `[notices] max_new_per_poll` new updates queues no mail: they are
held, shown on /drift and in fki_notices_held, until an operator releases or discards them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from monitor import create_app
from monitor.models import AuditEvent, Delivery, NoticeSource, NoticeUpdate
from monitor.notify.collect import poll_all
from monitor.notify.outbox import deliver_due
from monitor.settings import Settings
from tests.auth_helpers import sign_in
from tests.conftest import make_settings
from tests.notify_helpers import add_subscriber, eml_files

LIMIT = 5


def item(n: int) -> str:
    return f"""<item><title>Hændelse {n}</title>
  <description>&lt;p&gt;&lt;small&gt;Nov 28, 09:{n:02d} UTC&lt;/small&gt;&lt;br&gt;&lt;strong&gt;Investigating&lt;/strong&gt; - Vi undersøger {n}.&lt;/p&gt;</description>
  <pubDate>Sat, 28 Nov 2020 09:{n:02d}:00 +0000</pubDate>
  <link>https://status.example/incidents/{n}</link><guid>https://status.example/incidents/{n}</guid></item>"""


def write_feed(path: Path, numbers: range) -> None:
    items = "".join(item(n) for n in numbers)
    path.write_text('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Status</title>'
                    f"<link>https://status.example</link><description>Status</description>{items}</channel></rss>",
                    encoding="utf-8")


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, db_url, notices={"max_new_per_poll": LIMIT, "sources": [
        {"name": "driftstatus", "url": str(tmp_path / "status.rss"), "kind": "feed",
         "components": ["serviceplatformen"]}]})


@pytest.fixture
def flooded(settings: Settings, engine: Engine, session: Session, tmp_path: Path) -> Session:
    """Two subscribers, a backfilled source, then one poll with LIMIT + 3 new incidents."""
    add_subscriber(session, "a@k.dk")
    add_subscriber(session, "b@k.dk")
    session.commit()
    write_feed(tmp_path / "status.rss", range(1, 2))
    poll_all(engine, settings)  # the backfill
    write_feed(tmp_path / "status.rss", range(1, LIMIT + 5))
    poll_all(engine, settings)
    return session


def held(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(NoticeUpdate).where(NoticeUpdate.held.is_(True))) or 0


def drift_form(client: FlaskClient) -> tuple[str, str]:
    page = client.get("/drift").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    source = re.search(r'name="source" value="(\d+)"', page)
    assert token and source, page
    return token.group(1), source.group(1)


def held_metric(client: FlaskClient) -> str:
    found = re.search(r"^fki_notices_held (\S+)$", client.get("/metrics").get_data(as_text=True), re.M)
    assert found
    return found.group(1)


def test_a_poll_over_the_limit_queues_no_mail_and_alerts_the_operators(
        flooded: Session, engine: Engine, settings: Settings, app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    assert held(flooded) == LIMIT + 3
    assert flooded.scalar(select(func.count()).select_from(Delivery)) == 0
    assert deliver_due(engine, settings).sent == 0 and eml_files(tmp_path / "outbox") == []
    assert held_metric(client) == "8.0"
    source = flooded.scalars(select(NoticeSource)).one()
    assert source.last_error is None and source.consecutive_failures == 0  # the poll itself succeeded

    sign_in(client)
    page = client.get("/drift").get_data(as_text=True)
    assert "Tilbageholdte driftsmeddelelser" in page and "driftstatus" in page and 'value="release"' in page


def test_an_operator_releases_held_notices_and_they_are_mailed_once(
        flooded: Session, engine: Engine, settings: Settings, client: FlaskClient, tmp_path: Path) -> None:
    sign_in(client)
    token, source = drift_form(client)
    answer = client.post("/drift/tilbageholdte", data={"csrf_token": token, "source": source, "action": "release"})
    assert answer.status_code == 303 and answer.location.endswith("#tilbageholdte-meddelelser")
    assert held(flooded) == 0 and held_metric(client) == "0.0"
    assert "Tilbageholdte driftsmeddelelser" not in client.get("/drift").get_data(as_text=True)
    assert deliver_due(engine, settings).sent == 2 * (LIMIT + 3)
    assert deliver_due(engine, settings).sent == 0
    assert sorted({m["To"] for m in eml_files(tmp_path / "outbox")}) == ["a@k.dk", "b@k.dk"]
    event = flooded.scalars(select(AuditEvent).where(AuditEvent.action == "notices.release")).one()
    assert "8 update(s)" in event.detail and "16 delivery(ies)" in event.detail


def test_an_operator_discards_held_notices_and_nobody_is_mailed(
        flooded: Session, engine: Engine, settings: Settings, client: FlaskClient, tmp_path: Path) -> None:
    sign_in(client)
    token, source = drift_form(client)
    assert client.post("/drift/tilbageholdte", data={"csrf_token": token, "source": source,
                                                      "action": "discard"}).status_code == 303
    assert held(flooded) == 0
    assert deliver_due(engine, settings).sent == 0 and eml_files(tmp_path / "outbox") == []
    assert flooded.scalar(select(func.count()).select_from(NoticeUpdate)) == LIMIT + 4  # still shown
    assert flooded.scalars(select(AuditEvent).where(AuditEvent.action == "notices.discard")).one()


def test_the_decision_needs_an_operator_a_csrf_token_and_a_known_source(
        flooded: Session, settings: Settings, engine: Engine, client: FlaskClient) -> None:
    token_less = {"source": "1", "action": "release"}
    assert client.post("/drift/tilbageholdte", data=token_less).status_code in (303, 400)
    assert held(flooded) == LIMIT + 3
    sign_in(client)
    token, source = drift_form(client)
    assert client.post("/drift/tilbageholdte", data={"source": source, "action": "release"}).status_code == 400
    for bad in ({"source": source, "action": "send"}, {"source": "999999", "action": "release"},
                {"source": "x" * 5000, "action": "discard"}):
        assert client.post("/drift/tilbageholdte", data={"csrf_token": token, **bad}).status_code == 400
    assert held(flooded) == LIMIT + 3


def test_a_poll_within_the_limit_is_mailed_as_always(
        settings: Settings, engine: Engine, session: Session, tmp_path: Path) -> None:
    add_subscriber(session, "a@k.dk")
    session.commit()
    write_feed(tmp_path / "status.rss", range(1, 2))
    poll_all(engine, settings)
    write_feed(tmp_path / "status.rss", range(1, LIMIT + 2))  # exactly LIMIT new
    poll_all(engine, settings)
    assert held(session) == 0
    assert deliver_due(engine, settings).sent == LIMIT


def test_the_limit_defaults_to_fifty(tmp_path: Path, sqlite_url: str) -> None:
    app = create_app(make_settings(tmp_path, sqlite_url))
    assert app.extensions["monitor"].settings.notices.max_new_per_poll == 50


def test_a_flood_with_an_item_the_database_refuses_is_still_held_as_one_poll(
        settings: Settings, engine: Engine, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # When the database refuses one item, the others are stored one savepoint each; the hold must
    # still count the whole poll's new updates, not one notice at a time.
    from monitor.collectors.notices import poll as collector
    from monitor.collectors.notices.store import store_notices

    add_subscriber(session, "a@k.dk")
    session.commit()
    write_feed(tmp_path / "status.rss", range(1, 2))
    poll_all(engine, settings)  # the backfill
    real = store_notices
    refused = {"calls": 0}

    def refuse_the_whole_document_once(session, source, notices, **kwargs):  # type: ignore[no-untyped-def]
        if len(notices) > 1 and not refused["calls"]:
            refused["calls"] += 1
            raise collector.DBAPIError("INSERT", {}, ValueError("refused"))
        return real(session, source, notices, **kwargs)

    monkeypatch.setattr(collector, "store_notices", refuse_the_whole_document_once)
    write_feed(tmp_path / "status.rss", range(1, LIMIT + 5))
    poll_all(engine, settings)
    assert refused["calls"] == 1  # the item-by-item path was taken
    assert held(session) == LIMIT + 3
    assert session.scalar(select(func.count()).select_from(Delivery)) == 0

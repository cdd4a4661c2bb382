"""A link names one subscriber row for good: an erased or purged subscriber's links never open
the next subscriber's data, on SQLite (whose ids would otherwise be reused) and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.orm import Session

from monitor.models import Subscriber
from monitor.notify.mail import subscriber_links
from monitor.notify.subscriptions import purge_unsubscribed
from monitor.settings import Settings
from tests.conftest import make_settings
from tests.notify_helpers import SmtpServer, add_subscriber, link, smtp_section
from tests.test_subscribe import confirm_by_mail, csrf, subscribe, subscriber


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpServer) -> Settings:
    return make_settings(tmp_path, db_url, mail=smtp_section(smtp))


def subscribed(client: FlaskClient, smtp: SmtpServer, address: str) -> tuple[str, str]:
    """Subscribe and confirm `address`; its manage link and its one-click unsubscribe link."""
    subscribe(client, address)
    confirm_by_mail(client, smtp, address)
    subscribe(client, address)  # a known address gets a mail with its manage and unsubscribe links
    mail = smtp.inbox.to(address)[-1]
    return link(mail, "manage"), link(mail, "u")


def assert_refused_without_bob(client: FlaskClient, manage: str, unsubscribe: str) -> None:
    """Every link of the departed subscriber gets a clear 4xx page that shows nothing of bob."""
    answers = {
        "GET manage": client.get(manage),
        "POST manage/data": client.post(f"{manage}/data", data={"csrf_token": csrf(client)}),
        "POST manage/delete": client.post(f"{manage}/delete", data={"csrf_token": csrf(client), "confirm": "yes"}),
        "GET unsubscribe": client.get(unsubscribe),
        "POST unsubscribe one-click": client.post(unsubscribe, data="List-Unsubscribe=One-Click",
                                                  content_type="application/x-www-form-urlencoded"),
    }
    for what, response in answers.items():
        assert response.status_code in (400, 410), (what, response.status_code)
        body = response.get_data(as_text=True)
        assert "bob" not in body and "<h1>" in body, what


def test_an_erased_subscribers_links_never_open_the_next_subscriber(
        client: FlaskClient, session: Session, smtp: SmtpServer) -> None:
    subscribed(client, smtp, "carl@k.dk")
    manage, unsubscribe = subscribed(client, smtp, "alice@k.dk")  # the highest id
    gone = client.post(f"{manage}/delete", data={"csrf_token": csrf(client, manage), "confirm": "yes"})
    assert gone.status_code == 200 and "Du er slettet" in gone.get_data(as_text=True)
    subscribed(client, smtp, "bob@k.dk")

    assert_refused_without_bob(client, manage, unsubscribe)
    bob = subscriber(session, "bob@k.dk")
    assert bob is not None and bob.confirmed_at is not None and bob.unsubscribed_at is None
    assert client.get(manage).status_code == 410
    assert "findes ikke længere" in client.get(unsubscribe).get_data(as_text=True)


def test_the_links_of_a_subscriber_purged_after_the_grace_period_never_open_the_next_one(
        client: FlaskClient, session: Session, engine: Engine, settings: Settings, smtp: SmtpServer,
        clock: dt.datetime) -> None:
    manage, unsubscribe = subscribed(client, smtp, "alice@k.dk")
    assert client.post(unsubscribe, data="List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded").status_code == 200
    later = clock + dt.timedelta(days=settings.web.unsubscribe_grace_days + 1)
    assert purge_unsubscribed(engine, settings, now=later) == 1
    subscribed(client, smtp, "bob@k.dk")

    assert_refused_without_bob(client, manage, unsubscribe)
    assert subscriber(session, "bob@k.dk").unsubscribed_at is None


def test_ids_are_never_given_again_after_a_delete(session: Session) -> None:
    first = add_subscriber(session, "alice@k.dk")
    first_id = first.id
    session.execute(delete(Subscriber).where(Subscriber.id == first_id))
    session.commit()
    assert add_subscriber(session, "bob@k.dk").id > first_id


def test_a_row_that_takes_an_old_id_is_not_opened_by_that_ids_links(
        client: FlaskClient, session: Session, settings: Settings) -> None:
    alice = add_subscriber(session, "alice@k.dk")
    session.commit()
    links = {k: v.split("8000", 1)[1] for k, v in subscriber_links(settings, "test-secret", alice).items()}
    alice_id = alice.id
    session.execute(delete(Subscriber).where(Subscriber.id == alice_id))
    # Even a row given the very same id and version (as SQLite did before) has a key of its own.
    session.add(Subscriber(id=alice_id, channel="email", address="bob@k.dk", token_version=0,
                           confirmed_at=dt.datetime(2020, 11, 2, tzinfo=dt.UTC)))
    session.commit()
    assert_refused_without_bob(client, links["manage"], links["unsubscribe"])


def test_links_of_a_subscriber_from_before_the_keys_keep_working(
        client: FlaskClient, session: Session, settings: Settings) -> None:
    session.execute(insert(Subscriber).values(
        channel="email", address="old@k.dk", language="da", all_components=True, token_version=0,
        created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), confirmed_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        link_key=None))
    session.commit()
    old = session.scalars(select(Subscriber).where(Subscriber.address == "old@k.dk")).one()
    links = {k: v.split("8000", 1)[1] for k, v in subscriber_links(settings, "test-secret", old).items()}
    page = client.get(links["manage"])
    assert page.status_code == 200 and "old@k.dk" in page.get_data(as_text=True)
    assert client.post(links["unsubscribe"], data="List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded").status_code == 200
    assert subscriber(session, "old@k.dk").unsubscribed_at is not None


def test_a_live_subscribers_links_keep_working(client: FlaskClient, session: Session, smtp: SmtpServer) -> None:
    manage, unsubscribe = subscribed(client, smtp, "alice@k.dk")
    subscribed(client, smtp, "bob@k.dk")
    page = client.get(manage)
    assert page.status_code == 200 and "alice@k.dk" in page.get_data(as_text=True)
    data = client.post(f"{manage}/data", data={"csrf_token": csrf(client, manage)})
    assert data.status_code == 200 and '"alice@k.dk"' in data.get_data(as_text=True)
    assert client.get(unsubscribe).status_code == 200

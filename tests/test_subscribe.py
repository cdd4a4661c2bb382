"""Subscribing through the pages: double opt-in, links that act only on POST, one-click unsubscribe."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from monitor.models import Delivery, Mail, Subscriber
from monitor.notify.outbox import deliver_due, enqueue_for_update
from monitor.notify.subscriptions import purge_unsubscribed
from monitor.settings import Settings
from tests.conftest import make_settings
from tests.notify_helpers import SmtpServer, add_notice, link, parts, smtp_section


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpServer) -> Settings:
    return make_settings(tmp_path, db_url, mail=smtp_section(smtp))


def csrf(client: FlaskClient, path: str = "/subscribe") -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def deliver(client: FlaskClient) -> None:
    """Run the outbox once, as the scheduler does every half minute."""
    monitor = client.application.extensions["monitor"]
    deliver_due(monitor.engine, monitor.settings)


def subscribe(client: FlaskClient, email: str, components: list[str] | None = None, language: str = "da",
              **environ: str):  # type: ignore[no-untyped-def]
    """Post the form, then let the outbox send what it queued."""
    data = {"email": email, "components": components or [], "language": language, "csrf_token": csrf(client)}
    response = client.post("/subscribe", data=data, environ_base=environ) if environ else client.post("/subscribe", data=data)
    deliver(client)
    return response


def subscriber(session: Session, address: str) -> Subscriber | None:
    session.expire_all()
    return session.scalars(select(Subscriber).where(Subscriber.address == address)).one_or_none()


def confirm_by_mail(client: FlaskClient, smtp: SmtpServer, address: str) -> None:
    path = link(smtp.inbox.to(address)[-1], "confirm")
    token = csrf(client, path)
    assert client.post(path, data={"csrf_token": token}).status_code == 200


def test_subscribe_confirm_receive_and_unsubscribe_in_one_click(
        client: FlaskClient, session: Session, engine: Engine, settings: Settings, smtp: SmtpServer) -> None:
    response = subscribe(client, "  Leder@Kommune.DK ", ["serviceplatformen"], "da")
    assert response.status_code == 200
    assert "Tjek din indbakke" in response.get_data(as_text=True)
    [mail] = smtp.inbox.to("leder@kommune.dk")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(mail)
    assert "/confirm/" in text and "/confirm/" in html and "48 timer" in text
    sub = subscriber(session, "leder@kommune.dk")
    assert sub is not None and sub.confirmed_at is None

    # Nothing is sent before confirmation.
    assert enqueue_for_update(session, add_notice(session, upstream_id="before")) == 0
    session.commit()

    path = link(mail, "confirm")
    page = client.get(path)
    assert page.status_code == 200 and "<button" in page.get_data(as_text=True)
    assert subscriber(session, "leder@kommune.dk").confirmed_at is None  # GET changed nothing
    confirmed = client.post(path, data={"csrf_token": csrf(client, path)})
    assert confirmed.status_code == 200 and "bekræftet" in confirmed.get_data(as_text=True)
    assert subscriber(session, "leder@kommune.dk").confirmed_at is not None

    assert enqueue_for_update(session, add_notice(session, upstream_id="after")) == 1
    assert enqueue_for_update(session, add_notice(session, upstream_id="other", components=("organisation",))) == 0
    session.commit()
    assert deliver_due(engine, settings).sent == 1
    notice_mail = smtp.inbox.to("leder@kommune.dk")[-1]
    unsubscribe_url = notice_mail["List-Unsubscribe"].strip("<>")
    path = unsubscribe_url.removeprefix("http://127.0.0.1:8000")

    # RFC 8058 one-click: a POST without any CSRF token.
    response = client.post(path, data="List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert "30 dage" in response.get_data(as_text=True)
    assert subscriber(session, "leder@kommune.dk").unsubscribed_at is not None
    assert enqueue_for_update(session, add_notice(session, upstream_id="later")) == 0


def test_a_known_address_gets_the_same_page_and_a_manage_link_instead(
        client: FlaskClient, session: Session, smtp: SmtpServer) -> None:
    def page_of(response) -> str:  # type: ignore[no-untyped-def]
        return re.sub(r'name="csrf_token" value="[^"]+"', "", response.get_data(as_text=True))

    first = subscribe(client, "a@k.dk", ["organisation"])
    confirm_by_mail(client, smtp, "a@k.dk")
    again = subscribe(client, "a@k.dk", ["beskedfordeler"], "en")
    unknown = subscribe(client, "b@k.dk", ["organisation"])
    assert first.status_code == again.status_code == unknown.status_code == 200
    assert page_of(again) == page_of(first)
    assert page_of(unknown) == page_of(first).replace("a@k.dk", "b@k.dk")
    mails = smtp.inbox.to("a@k.dk")
    assert len(mails) == 2
    assert "/manage/" in parts(mails[1])[0] and "/confirm/" not in parts(mails[1])[0]
    sub = subscriber(session, "a@k.dk")
    assert [s.component_slug for s in sub.subscriptions] == ["organisation"] and sub.language == "da"


@pytest.mark.parametrize(("form", "message"), [
    ({"email": "not-an-address"}, "Skriv en gyldig e-mailadresse"),
    ({"email": ""}, "Skriv en gyldig e-mailadresse"),
    ({"email": "a@@k.dk"}, "Skriv en gyldig e-mailadresse"),
    ({"email": "a@k.dk", "components": ["serviceplatformen", "no-such-thing"]}, "Ukendt komponent: no-such-thing"),
    ({"email": "a@k.dk", "language": "de"}, "Vælg dansk eller engelsk."),
])
def test_a_broken_form_is_refused_with_a_message_and_stores_and_sends_nothing(
        client: FlaskClient, session: Session, smtp: SmtpServer, form: dict, message: str) -> None:
    data = {"language": "da", **form, "csrf_token": csrf(client)}
    response = client.post("/subscribe", data=data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
    assert smtp.inbox.messages == []


def test_a_form_without_a_csrf_token_is_refused(client: FlaskClient, session: Session, smtp: SmtpServer) -> None:
    response = client.post("/subscribe", data={"email": "a@k.dk", "language": "da"})
    assert response.status_code == 400
    assert "Formularen er udløbet" in response.get_data(as_text=True)
    assert subscriber(session, "a@k.dk") is None and smtp.inbox.messages == []


def test_too_many_requests_from_one_client_are_refused(tmp_path: Path, db_url: str, smtp: SmtpServer) -> None:
    from monitor import create_app

    app = create_app(make_settings(tmp_path, db_url, mail=smtp_section(smtp), web={"rate_limit": "2 per minute"}))
    client = app.test_client()
    statuses = [subscribe(client, f"p{i}@k.dk").status_code for i in range(3)]
    app.extensions["monitor"].engine.dispose()
    assert statuses == [200, 200, 429]
    assert len(smtp.inbox.messages) == 2


def test_one_address_cannot_be_flooded_from_many_clients(client: FlaskClient, smtp: SmtpServer) -> None:
    statuses = [subscribe(client, "victim@k.dk", REMOTE_ADDR=f"10.0.0.{i}").status_code for i in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    assert len(smtp.inbox.to("victim@k.dk")) == 5
    assert "For mange forsøg" in subscribe(client, "Victim@K.dk", REMOTE_ADDR="10.0.1.1").get_data(as_text=True)


def test_an_expired_confirmation_link_is_refused_with_a_clear_page(
        client: FlaskClient, session: Session, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - 49 * 3600)
    subscribe(client, "a@k.dk")
    monkeypatch.undo()
    path = link(smtp.inbox.to("a@k.dk")[0], "confirm")
    for response in (client.get(path), client.post(path, data={"csrf_token": csrf(client)})):
        assert response.status_code == 400
        assert "Linket er udløbet" in response.get_data(as_text=True)
    assert subscriber(session, "a@k.dk").confirmed_at is None


@pytest.mark.parametrize("kind", ["confirm", "u"])
def test_a_tampered_link_is_refused(client: FlaskClient, session: Session, smtp: SmtpServer, kind: str) -> None:
    subscribe(client, "a@k.dk")
    path = link(smtp.inbox.to("a@k.dk")[0], kind)
    head, _, token = path.rpartition("/")
    payload, rest = token.split(".", 1)
    forged = f"{head}/{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{rest}"
    for response in (client.get(forged),
                     client.post(forged, data={"List-Unsubscribe": "One-Click", "csrf_token": csrf(client)})):
        assert response.status_code == 400
        assert "Linket er ugyldigt" in response.get_data(as_text=True)
    sub = subscriber(session, "a@k.dk")
    assert sub.confirmed_at is None and sub.unsubscribed_at is None


def test_a_forged_one_click_unsubscribe_does_not_unsubscribe(
        client: FlaskClient, session: Session, smtp: SmtpServer) -> None:
    subscribe(client, "a@k.dk")
    confirm_by_mail(client, smtp, "a@k.dk")
    sub = subscriber(session, "a@k.dk")
    # A token signed with another key for the right subscriber:
    from monitor.notify.tokens import make_token

    forged = make_token("not-the-secret", "unsubscribe", sub)
    response = client.post(f"/u/{forged}", data="List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert subscriber(session, "a@k.dk").unsubscribed_at is None


def test_following_mail_links_with_get_changes_nothing(client: FlaskClient, session: Session, smtp: SmtpServer) -> None:
    subscribe(client, "a@k.dk")
    confirm_path = link(smtp.inbox.to("a@k.dk")[0], "confirm")
    unsubscribe_path = link(smtp.inbox.to("a@k.dk")[0], "u")
    for path in (confirm_path, unsubscribe_path, confirm_path):
        assert client.get(path).status_code == 200
        assert client.head(path).status_code == 200
    sub = subscriber(session, "a@k.dk")
    assert sub.confirmed_at is None and sub.unsubscribed_at is None
    confirm_by_mail(client, smtp, "a@k.dk")
    subscribe(client, "a@k.dk")
    manage_path = link(smtp.inbox.to("a@k.dk")[-1], "manage")
    page = client.get(manage_path)
    assert page.status_code == 200 and 'value="a@k.dk"' in page.get_data(as_text=True)
    assert client.get(unsubscribe_path).status_code == 200
    assert subscriber(session, "a@k.dk").unsubscribed_at is None


def test_the_unsubscribe_page_unsubscribes_on_its_button_and_says_when_data_is_deleted(
        client: FlaskClient, session: Session, smtp: SmtpServer) -> None:
    subscribe(client, "a@k.dk")
    confirm_by_mail(client, smtp, "a@k.dk")
    path = link(smtp.inbox.to("a@k.dk")[0], "u")
    page = client.get(path).get_data(as_text=True)
    assert "slettes 30 dage efter afmeldingen" in page and "<button" in page
    assert client.post(path, data={"csrf_token": csrf(client, path)}).status_code == 200
    assert subscriber(session, "a@k.dk").unsubscribed_at is not None


def test_links_are_void_after_unsubscribing_and_unsubscribing_again_is_harmless(
        client: FlaskClient, session: Session, smtp: SmtpServer) -> None:
    subscribe(client, "a@k.dk")
    confirm_by_mail(client, smtp, "a@k.dk")
    first_mail = smtp.inbox.to("a@k.dk")[0]
    confirm_path, unsubscribe_path = link(first_mail, "confirm"), link(first_mail, "u")
    manage_path = link(first_mail, "manage")
    assert client.post(unsubscribe_path, data="List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded").status_code == 200
    again = client.post(unsubscribe_path, data="List-Unsubscribe=One-Click",
                        content_type="application/x-www-form-urlencoded")
    assert again.status_code == 200 and "Du er afmeldt" in again.get_data(as_text=True)
    assert client.get(manage_path).status_code == 400
    response = client.post(confirm_path, data={"csrf_token": csrf(client)})
    assert response.status_code == 400 and "Linket er ugyldigt" in response.get_data(as_text=True)
    assert subscriber(session, "a@k.dk").confirmed_at is not None
    assert subscriber(session, "a@k.dk").unsubscribed_at is not None

    # Subscribing again needs a new confirmation; the old unsubscribe link then no longer applies.
    subscribe(client, "a@k.dk")
    assert subscriber(session, "a@k.dk").confirmed_at is None
    confirm_by_mail(client, smtp, "a@k.dk")
    assert client.post(unsubscribe_path, data="List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded").status_code == 400
    assert subscriber(session, "a@k.dk").unsubscribed_at is None


def test_managing_changes_components_and_language_and_a_new_address_needs_confirming(
        client: FlaskClient, session: Session, smtp: SmtpServer) -> None:
    subscribe(client, "a@k.dk", ["organisation"])
    confirm_by_mail(client, smtp, "a@k.dk")
    manage_path = link(smtp.inbox.to("a@k.dk")[0], "manage")
    data = {"email": "a@k.dk", "components": ["beskedfordeler", "klassifikation"], "language": "en",
            "csrf_token": csrf(client, manage_path)}
    assert client.post(manage_path, data=data).status_code == 200
    sub = subscriber(session, "a@k.dk")
    assert sub.language == "en" and not sub.all_components
    assert sorted(s.component_slug for s in sub.subscriptions) == ["beskedfordeler", "klassifikation"]

    data = {"email": "New@K.dk", "components": [], "language": "da", "csrf_token": csrf(client, manage_path)}
    response = client.post(manage_path, data=data)
    deliver(client)
    assert response.status_code == 200 and "new@k.dk" in response.get_data(as_text=True)
    assert subscriber(session, "a@k.dk").all_components  # preferences saved, address not yet moved
    [confirmation] = smtp.inbox.to("new@k.dk")
    confirm_by_mail(client, smtp, "new@k.dk")
    assert subscriber(session, "a@k.dk") is None
    moved = subscriber(session, "new@k.dk")
    assert moved is not None and moved.confirmed_at is not None
    assert client.get(manage_path).status_code == 400  # links mailed to the old address are void
    assert link(confirmation, "confirm")


def test_with_the_mail_server_down_the_form_answers_at_once_and_exactly_one_confirmation_arrives_later(
        client: FlaskClient, session: Session, engine: Engine, settings: Settings, smtp: SmtpServer,
        clock: dt.datetime) -> None:
    def page_of(response) -> str:  # type: ignore[no-untyped-def]
        return re.sub(r'name="csrf_token" value="[^"]+"', "", response.get_data(as_text=True))

    subscribe(client, "a@k.dk")
    confirm_by_mail(client, smtp, "a@k.dk")
    smtp.stop()
    known, new = subscribe(client, "a@k.dk"), subscribe(client, "b@k.dk")
    assert known.status_code == new.status_code == 200
    assert page_of(known) == page_of(new).replace("b@k.dk", "a@k.dk")
    assert subscriber(session, "b@k.dk").confirmed_at is None
    # The outbox ran after each post (see subscribe()): both mails wait for the server, none is lost.
    assert smtp.inbox.to("b@k.dk") == [] and len(smtp.inbox.to("a@k.dk")) == 1
    assert sorted(m.status for m in session.scalars(select(Mail))) == ["queued", "queued", "sent"]
    smtp.start()
    later = clock + dt.timedelta(hours=1)
    assert deliver_due(engine, settings, now=later).sent == 2
    assert deliver_due(engine, settings, now=later + dt.timedelta(hours=1)).sent == 0
    [confirmation] = smtp.inbox.to("b@k.dk")
    assert "/confirm/" in parts(confirmation)[0]
    assert len(smtp.inbox.to("a@k.dk")) == 2  # the first confirmation, then one manage mail
    confirm_by_mail(client, smtp, "b@k.dk")
    assert subscriber(session, "b@k.dk").confirmed_at is not None


def test_unsubscribed_and_unconfirmed_addresses_are_deleted_after_the_grace_period(
        client: FlaskClient, session: Session, engine: Engine, settings: Settings, smtp: SmtpServer,
        clock: dt.datetime) -> None:
    subscribe(client, "gone@k.dk")
    confirm_by_mail(client, smtp, "gone@k.dk")
    subscribe(client, "stays@k.dk")
    confirm_by_mail(client, smtp, "stays@k.dk")
    subscribe(client, "never@k.dk")
    enqueue_for_update(session, add_notice(session))
    session.commit()
    client.post(link(smtp.inbox.to("gone@k.dk")[0], "u"), data="List-Unsubscribe=One-Click",
                content_type="application/x-www-form-urlencoded")
    assert purge_unsubscribed(engine, settings, now=clock + dt.timedelta(days=29)) == 0
    assert subscriber(session, "gone@k.dk") is not None
    assert purge_unsubscribed(engine, settings, now=clock + dt.timedelta(days=31)) == 2
    assert subscriber(session, "gone@k.dk") is None and subscriber(session, "never@k.dk") is None
    assert subscriber(session, "stays@k.dk") is not None
    assert [d.subscriber_id for d in session.scalars(select(Delivery))] == [subscriber(session, "stays@k.dk").id]

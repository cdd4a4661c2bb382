"""POST /api/v1/alertmanager: Alertmanager's notifications become one mail per group and status
to the municipality's mailboxes, read here as the bytes the mail server receives."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor import create_app
from monitor.cutover.acks import acknowledge
from monitor.db import make_engine, session_factory
from monitor.models import Mail, MunicipalityContact
from monitor.notify.contacts import stop_token
from tests import mailgrammar
from tests.alert_helpers import TOKEN, add_mailbox, alert_settings, notification, red_and_green
from tests.auth_helpers import deliver_mails

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def world(tmp_path, db_url, now):  # type: ignore[no-untyped-def]
    """The app over a red Aarhus with a Danish and an English mailbox, a green Odense with one, at `now`."""
    settings = alert_settings(tmp_path, db_url)
    engine = make_engine(settings.database.url)
    with session_factory(engine)() as session:
        red_and_green(session)
        add_mailbox(session, "751", "infrastruktur@aarhus.example.dk")
        add_mailbox(session, "751", "it-drift@aarhus.example.dk", "en")
        add_mailbox(session, "461", "infrastruktur@odense.example.dk")
        session.commit()
    app = create_app(settings)
    app.config.update(TESTING=True, MONITOR_CLOCK=lambda: now)
    yield app
    app.extensions["monitor"].engine.dispose()
    engine.dispose()


def post(app, payload, headers=AUTH):  # type: ignore[no-untyped-def]
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return app.test_client().post("/api/v1/alertmanager", data=body, headers={"Content-Type": "application/json",
                                                                               **headers})


def queued(app, kind="alert"):  # type: ignore[no-untyped-def]
    with session_factory(app.extensions["monitor"].engine)() as session:
        return session.scalar(select(func.count()).select_from(Mail).where(Mail.kind == kind))


def sent_list(app, now) -> list[mailgrammar.Mail]:  # type: ignore[no-untyped-def]
    """Deliver the queue; every mail in the file outbox, checked against the mail grammar on its raw bytes."""
    deliver_mails(app, now + dt.timedelta(minutes=1))
    outbox = Path(app.extensions["monitor"].settings.mail.outbox_dir)
    return [mailgrammar.read(path.read_bytes()) for path in sorted(outbox.glob("*.eml"))]


def sent(app, now) -> dict[str, mailgrammar.Mail]:  # type: ignore[no-untyped-def]
    """The mails sent, by recipient (one each)."""
    mails = sent_list(app, now)
    found = {m.one("To").strip(): m for m in mails}
    assert len(found) == len(mails), "a mailbox got more than one mail"
    return found


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-0123456789"},
                                     {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}])
def test_nothing_is_accepted_without_the_bearer_token(world, headers):
    response = post(world, notification("751"), headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert queued(world) == 0


def test_with_no_token_configured_the_receiver_accepts_nothing(tmp_path, sqlite_url):
    app = create_app(alert_settings(tmp_path, sqlite_url, alerts={"receiver_token": ""}))
    response = app.test_client().post("/api/v1/alertmanager", json=notification("751"),
                                      headers={"Authorization": "Bearer "})
    assert response.status_code == 401
    app.extensions["monitor"].engine.dispose()


@pytest.mark.parametrize(("body", "named"), [
    (b"not json", "JSON"),
    (b"\xff\xfe", "JSON"),
    (json.dumps([1, 2]).encode(), "object"),
    (json.dumps({**notification("751"), "status": "sometimes"}).encode(), "status"),
    (json.dumps({**notification("751"), "alerts": []}).encode(), "alerts"),
    (json.dumps({**notification("751"), "groupKey": 7}).encode(), "groupKey"),
    (json.dumps(notification("751", starts="yesterday")).encode(), "startsAt"),
    (json.dumps(notification("75")).encode(), "municipality"),
    (json.dumps(notification("999")).encode(), "999"),
])
def test_a_payload_that_is_not_alertmanagers_is_a_400_naming_what_is_wrong(world, body, named):
    response = post(world, body)
    assert response.status_code == 400
    assert named in response.get_json()["error"]
    assert queued(world) == 0


def test_a_body_over_the_limit_is_refused_before_it_is_read(world):
    response = post(world, b"{" + b" " * 1_000_001 + b"}")
    assert response.status_code == 413


def test_a_firing_group_is_one_mail_to_each_mailbox_in_its_language_and_a_repeat_sends_nothing(world, now):
    first = post(world, notification("751"))
    assert first.status_code == 200 and first.get_json() == {"result": "queued", "mails": 2}
    again = post(world, notification("751"))  # Alertmanager's repeat_interval, or a retry
    assert again.get_json() == {"result": "repeated", "mails": 0}
    mails = sent(world, now)
    assert sorted(mails) == ["infrastruktur@aarhus.example.dk", "it-drift@aarhus.example.dk"]
    danish, english = mails["infrastruktur@aarhus.example.dk"], mails["it-drift@aarhus.example.dk"]
    assert danish.one("Content-Language").strip() == "da" and english.one("Content-Language").strip() == "en"
    assert danish.subject.startswith("Alarm: Aarhus") and english.subject.startswith("Alert: Aarhus")
    text = danish.part("text/plain")
    assert "Kaldene fra Aarhus (751) er ikke normale" in text
    assert "Status: rød" in text
    assert "28. november 2020 kl. 11:30" in text  # since when, in Copenhagen time
    assert "ingen kald (normalt 1.200)" in text  # the reason in words, with its number
    assert "/skift?kommune=751" in text and "/skift?kommune=751" in danish.part("text/html")
    english_text = english.part("text/plain")
    assert "Status: red" in english_text and "no calls (normally 1,200)" in english_text
    for word in ("Kaldene", "Hvorfor", "ingen kald", "Stop denne"):
        assert word not in english_text
    for mail in (danish, english):
        unsubscribe = mail.one("List-Unsubscribe").strip()
        assert re.fullmatch(r"<https?://[^>]+/postkasse/stop/[^>]+>", unsubscribe)
        assert mail.one("List-Unsubscribe-Post").strip() == "List-Unsubscribe=One-Click"
    assert danish.one("Message-ID") != english.one("Message-ID")


def test_a_resolved_group_is_mailed_once_after_its_firing_and_not_without_it(world, now):
    assert post(world, notification("751", "resolved")).get_json()["result"] == "not_mailed"
    post(world, notification("751"))
    assert post(world, notification("751", "resolved")).get_json() == {"result": "queued", "mails": 2}
    assert post(world, notification("751", "resolved")).get_json()["result"] == "repeated"
    # The same group firing again later is a new episode: mailed again.
    assert post(world, notification("751", starts="2020-11-28T13:00:00Z")).get_json()["result"] == "queued"
    assert queued(world) == 6
    resolved = [m for m in sent_list(world, now) if m.subject.startswith(("Afmeldt", "Resolved"))]
    assert len(resolved) == 2
    danish = next(m for m in resolved if m.one("Content-Language").strip() == "da")
    assert "Alarmen for Aarhus (751) er afmeldt: kaldene er normale igen." in danish.part("text/plain")


def test_an_acknowledged_municipality_is_not_mailed(world, now):
    with session_factory(world.extensions["monitor"].engine)() as session:
        acknowledge(session, world.extensions["monitor"].settings, now, municipality="751", agreement=None,
                    note="Aarhus flytter deres integrationer i aften", operator="drift@example.dk")
        session.commit()
    assert post(world, notification("751")).get_json() == {"result": "acknowledged", "mails": 0}
    assert queued(world) == 0


def test_a_platform_group_without_a_municipality_is_answered_and_mails_nobody(world):
    response = post(world, notification(None, alertname="FkiPlatformDegraded", group="{}:{}"))
    assert response.status_code == 200 and response.get_json()["result"] == "no_municipality"
    assert queued(world) == 0


def test_the_one_click_link_stops_alerts_for_that_mailbox_only(world, now):
    post(world, notification("751"))
    mails = sent(world, now)
    url = mails["infrastruktur@aarhus.example.dk"].one("List-Unsubscribe").strip()[1:-1]
    path = re.sub(r"^https?://[^/]+", "", url)
    client = world.test_client()
    assert client.get(path).status_code == 200  # a mail scanner's GET changes nothing
    assert post(world, notification("751", starts="2020-11-28T13:00:00Z")).get_json()["mails"] == 2
    response = client.post(path, data="List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert post(world, notification("751", starts="2020-11-28T15:00:00Z")).get_json()["mails"] == 1


def test_a_stop_link_never_opens_another_mailbox_with_the_same_id(world):
    engine = world.extensions["monitor"].engine
    with session_factory(engine)() as session:
        contact = session.scalars(select(MunicipalityContact).order_by(MunicipalityContact.id)).first()
        assert contact is not None
        real = stop_token(str(world.secret_key), contact, "alert")
        contact.link_key = "someone-elses-key"  # the row behind the id is not the one the link was made for
        session.commit()
    client = world.test_client()
    assert client.post(f"/postkasse/stop/{real}", data="List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded").status_code == 410
    assert client.get("/postkasse/stop/forged.token").status_code == 410
    with session_factory(engine)() as session:
        assert all(c.stopped == [] for c in session.scalars(select(MunicipalityContact)))

""""Dit input?": a lead's input on the method or objection to a result, confirmed by a mailed link."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.models import Agreement, Mail, MethodInput, RatingCorrection
from monitor.privacy import mask_address
from monitor.rating import corrections
from monitor.rating.inputs import MAX_TEXT
from monitor.settings import Settings
from monitor.users import recent_audit
from tests.auth_helpers import csrf, sign_in
from tests.cli_helpers import run_cli
from tests.conftest import make_settings
from tests.notify_helpers import SmtpServer, add_subscriber, parts, smtp_section
from tests.rating_helpers import add_agreement
from tests.test_subscribe import deliver

LEAD = "leder@kommune.dk"


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpServer) -> Settings:
    return make_settings(tmp_path, db_url, mail=smtp_section(smtp))


def send(client: FlaskClient, page: str = "/metode", **fields: str):  # type: ignore[no-untyped-def]
    """Post the input form as the page `page` carries it (its CSRF token), with `fields` over the defaults."""
    data = {"municipality": "101", "part": "service_agreements", "email": LEAD,
            "text": "Aftalen 5f0c… er i brug: den kaldes kun ved årsskiftet.", "csrf_token": csrf(client, page)}
    data.update(fields)
    return client.post("/metode/input", data=data)


def stored(session: Session) -> list[MethodInput]:
    session.expire_all()
    return list(session.scalars(select(MethodInput).order_by(MethodInput.id)))


def mails(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Mail)) or 0


def agreement_of(session: Session, code: str) -> str:
    add_agreement(session, "a-1", municipality=code)
    session.commit()
    return session.scalars(select(Agreement.uuid).where(Agreement.municipality_code == code)).first() or ""


def confirm_link(smtp: SmtpServer) -> str:
    """The confirmation path as the raw bytes of the last mail carry it."""
    raw = smtp.inbox.raw[-1].decode("ascii")
    found = re.findall(r"https?://[^\s/]+(/metode/input/[A-Za-z0-9_\-]+)", raw)
    assert found, raw
    return str(found[0])


def test_an_input_is_stored_unconfirmed_until_the_mailed_link_is_confirmed_by_a_post(
        client: FlaskClient, session: Session, smtp: SmtpServer) -> None:
    response = send(client)
    assert response.status_code == 200
    assert "Tjek din indbakke" in response.get_data(as_text=True)
    [row] = stored(session)
    assert (row.municipality_code, row.part, row.address, row.confirmed_at) == ("101", "service_agreements", LEAD, None)

    deliver(client)
    path = confirm_link(smtp)
    assert path == f"/metode/input/{row.key}"  # the row's own secret, not its id
    assert str(row.id) != row.key and len(row.key) >= 20

    page = client.get(path)
    assert page.status_code == 200 and "<button" in page.get_data(as_text=True)
    assert stored(session)[0].confirmed_at is None  # the GET changed nothing

    assert client.post(path, data={"csrf_token": csrf(client, path)}).status_code == 200
    assert stored(session)[0].confirmed_at is not None


def test_the_form_is_on_each_municipality_page_and_on_the_method_page_with_a_token_of_the_visitors_own(
        client: FlaskClient, app, session: Session) -> None:  # type: ignore[no-untyped-def]
    for page in ("/kommune/101", "/metode"):
        body = client.get(page).get_data(as_text=True)
        assert "Giv input til metoden / gør indsigelse mod resultatet" in body
        assert 'action="/metode/input"' in body
    # The municipality page is cached for everyone; a second visitor still gets a token that works.
    other = app.test_client()
    assert send(other, "/kommune/101").status_code == 200
    assert [r.municipality_code for r in stored(session)] == ["101"]


def test_an_input_on_the_method_in_general_needs_no_municipality(client: FlaskClient, session: Session) -> None:
    assert send(client, municipality="", part="method", text="Hvorfor 90 dage?").status_code == 200
    [row] = stored(session)
    assert (row.municipality_code, row.part) == (None, "method")


@pytest.mark.parametrize(("fields", "message"), [
    ({"text": "x" * (MAX_TEXT + 1)}, f"højst {MAX_TEXT} tegn"),
    ({"text": "   "}, f"højst {MAX_TEXT} tegn"),
    ({"email": "ikke en adresse"}, "Skriv en gyldig e-mailadresse"),
    ({"municipality": "999"}, "Vælg en kommune fra listen"),
    ({"municipality": "1" * 500}, "Vælg en kommune fra listen"),
    ({"part": "weights"}, "Vælg, hvilken del inputtet handler om"),
])
def test_broken_input_is_refused_with_a_message_and_nothing_is_stored_or_mailed(
        client: FlaskClient, session: Session, fields: dict[str, str], message: str) -> None:
    response = send(client, **fields)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert stored(session) == [] and mails(session) == 0


def test_a_form_without_a_valid_csrf_token_is_refused_and_nothing_is_stored(
        client: FlaskClient, session: Session) -> None:
    response = send(client, csrf_token="forged")
    assert response.status_code == 400
    assert "Formularen er udløbet" in response.get_data(as_text=True)
    assert stored(session) == [] and mails(session) == 0


def test_one_input_sent_once_is_stored_once_and_a_second_confirmation_changes_nothing(
        client: FlaskClient, session: Session, smtp: SmtpServer) -> None:
    send(client)
    deliver(client)
    path = confirm_link(smtp)
    client.post(path, data={"csrf_token": csrf(client, path)})
    first = stored(session)[0].confirmed_at
    assert client.post(path, data={"csrf_token": csrf(client, path)}).status_code == 200
    assert len(stored(session)) == 1 and stored(session)[0].confirmed_at == first


def test_a_link_with_an_unknown_key_names_no_input(client: FlaskClient, session: Session) -> None:
    send(client)
    row = stored(session)[0]
    for path in (f"/metode/input/{row.id}", "/metode/input/" + "k" * 500):
        assert client.get(path).status_code == 404
    assert stored(session)[0].confirmed_at is None


def test_a_confirmation_link_expires_like_a_subscription_link(
        client: FlaskClient, app, session: Session, settings: Settings, now: dt.datetime) -> None:  # type: ignore[no-untyped-def]
    app.config["MONITOR_CLOCK"] = lambda: now
    send(client)
    row = stored(session)[0]
    later = now + dt.timedelta(hours=settings.web.confirm_max_age_hours, minutes=1)
    app.config["MONITOR_CLOCK"] = lambda: later
    path = f"/metode/input/{row.key}"
    assert client.get(path).status_code == 410
    assert client.post(path, data={"csrf_token": csrf(client, "/metode")}).status_code == 410
    assert stored(session)[0].confirmed_at is None


def test_an_address_sending_too_often_is_limited(client: FlaskClient, session: Session) -> None:
    codes = [send(client, text=f"input {i}").status_code for i in range(6)]
    assert codes == [200] * 5 + [429]
    assert len(stored(session)) == 5


def confirmed_input(client: FlaskClient, smtp: SmtpServer, session: Session, **fields: str) -> MethodInput:
    """Send an input and confirm it through the mailed link, as a lead does."""
    assert send(client, **fields).status_code == 200
    deliver(client)
    path = confirm_link(smtp)
    assert client.post(path, data={"csrf_token": csrf(client, path)}).status_code == 200
    return stored(session)[-1]


def answer(operator: FlaskClient, row: MethodInput, text: str, publish: bool):  # type: ignore[no-untyped-def]
    data = {"answer": text, "csrf_token": csrf(operator, "/drift")}
    if publish:
        data["publish"] = "1"
    return operator.post(f"/drift/input/{row.id}", data=data)


def test_operators_see_every_input_on_drift_confirmed_or_not_with_the_address_masked(
        client: FlaskClient, app, session: Session, smtp: SmtpServer) -> None:  # type: ignore[no-untyped-def]
    confirmed_input(client, smtp, session)
    send(client, email="anden@kommune.dk", part="method", municipality="", text="Hvorfor 200 aftaler?")
    operator = sign_in(app.test_client())
    body = operator.get("/drift").get_data(as_text=True)
    section = body[body.index('id="input"'):body.index('id="abonnent"')]
    assert "Bekræftet" in section and "Ikke bekræftet" in section
    assert "Hvorfor 200 aftaler?" in section and "København" in section and "Metoden generelt" in section
    assert LEAD not in section and "anden@kommune.dk" not in section
    assert mask_address(LEAD) in section


def test_a_published_answer_shows_with_the_question_on_the_municipality_page_never_with_the_address(
        client: FlaskClient, app, session: Session, smtp: SmtpServer) -> None:  # type: ignore[no-untyped-def]
    row = confirmed_input(client, smtp, session)
    operator = sign_in(app.test_client())
    before = client.get("/kommune/101").get_data(as_text=True)
    assert "Aftalen 5f0c" not in before

    assert answer(operator, row, "Vi tæller den nu som i brug.", publish=False).status_code == 303
    assert "Vi tæller den nu som i brug." not in client.get("/kommune/101").get_data(as_text=True)

    assert answer(operator, row, "Vi tæller den nu som i brug.", publish=True).status_code == 303
    page = client.get("/kommune/101").get_data(as_text=True)
    assert "Aftalen 5f0c" in page and "Vi tæller den nu som i brug." in page
    assert LEAD not in page and mask_address(LEAD) not in page
    assert "Vi tæller den nu som i brug." not in client.get("/metode").get_data(as_text=True)
    actions = [e.action for e in recent_audit(session)]
    assert actions.count("method_input.answer") == 2


def test_a_published_answer_on_the_method_in_general_shows_on_the_method_page(
        client: FlaskClient, app, session: Session, smtp: SmtpServer) -> None:  # type: ignore[no-untyped-def]
    row = confirmed_input(client, smtp, session, municipality="", part="method", text="Hvorfor 90 dage?")
    answer(sign_in(app.test_client()), row, "Fordi en kvartalsvis kørsel skal nå at kalde.", publish=True)
    page = client.get("/metode").get_data(as_text=True)
    section = page[page.index('id="svar"'):]
    assert "Hvorfor 90 dage?" in section and "Fordi en kvartalsvis kørsel skal nå at kalde." in section
    assert LEAD not in page


def test_an_answer_to_an_unconfirmed_input_is_not_published(
        client: FlaskClient, app, session: Session) -> None:  # type: ignore[no-untyped-def]
    send(client, municipality="", part="method", text="Ubekræftet spørgsmål")
    answer(sign_in(app.test_client()), stored(session)[0], "Et svar", publish=True)
    assert "Ubekræftet spørgsmål" not in client.get("/metode").get_data(as_text=True)


@pytest.mark.parametrize("text", ["", "y" * 4001])
def test_an_empty_or_too_long_answer_changes_nothing(
        client: FlaskClient, app, session: Session, smtp: SmtpServer, text: str) -> None:  # type: ignore[no-untyped-def]
    row = confirmed_input(client, smtp, session)
    response = answer(sign_in(app.test_client()), row, text, publish=True)
    assert response.status_code == 400 and "Intet ændret" in response.get_data(as_text=True)
    assert stored(session)[0].answer is None and not stored(session)[0].published


def test_only_operators_answer_and_only_with_a_csrf_token(
        client: FlaskClient, app, session: Session, smtp: SmtpServer) -> None:  # type: ignore[no-untyped-def]
    row = confirmed_input(client, smtp, session)
    stranger = client.post(f"/drift/input/{row.id}", data={"answer": "x", "publish": "1",
                                                           "csrf_token": csrf(client, "/metode")})
    assert stranger.status_code in (302, 303, 401, 403)
    operator = sign_in(app.test_client())
    forged = operator.post(f"/drift/input/{row.id}", data={"answer": "x", "publish": "1", "csrf_token": "forged"})
    assert forged.status_code == 400
    assert operator.post("/drift/input/999999", data={"answer": "x", "csrf_token": csrf(operator, "/drift")}
                         ).status_code == 404
    assert stored(session)[0].answer is None


def test_the_gdpr_export_and_erasure_on_the_command_line_cover_inputs_by_the_same_address(
        client: FlaskClient, session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch,
        now: dt.datetime) -> None:
    send(client, text="Min indsigelse")
    send(client, email="anden@kommune.dk", text="Andens input")
    exported = run_cli(monkeypatch, settings, "subscribers", "export", LEAD.upper())
    assert exported.exit_code == 0
    document = json.loads(exported.stdout)
    assert [(i["municipality"], i["text"], i["confirmed_at"]) for i in document["method_inputs"]] == [
        ("101", "Min indsigelse", None)]
    kept = corrections.record(session, "101", agreement_of(session, "101"), "i brug", "drift@example.dk",
                              now, input_id=stored(session)[0].id)
    session.commit()

    assert run_cli(monkeypatch, settings, "subscribers", "delete", LEAD).exit_code == 0
    assert [r.text for r in stored(session)] == ["Andens input"]
    assert session.scalars(select(Mail.address).where(Mail.address == LEAD)).all() == []
    correction = session.get(RatingCorrection, kept.id)
    assert correction is not None and correction.input_id is None  # the operator's decision stays, unlinked


def test_the_manage_page_download_and_erasure_cover_inputs_by_the_subscribers_address(
        client: FlaskClient, session: Session, settings: Settings) -> None:
    from monitor.notify.mail import subscriber_links

    sub = add_subscriber(session, LEAD, ("organisation",))
    session.commit()
    send(client, text="Min indsigelse")
    manage = subscriber_links(settings, "test-secret", sub)["manage"].split("8000", 1)[1].split("?")[0]
    data = client.post(f"{manage}/data", data={"csrf_token": csrf(client, manage)}).get_json(force=True)
    assert [i["text"] for i in data["method_inputs"]] == ["Min indsigelse"]
    assert client.post(f"{manage}/delete",
                       data={"csrf_token": csrf(client, manage), "confirm": "yes"}).status_code == 200
    assert stored(session) == []


def test_the_asker_is_mailed_the_answer_once_in_their_language_with_a_link_where_it_is_published(
        client: FlaskClient, app, session: Session, smtp: SmtpServer) -> None:  # type: ignore[no-untyped-def]
    row = confirmed_input(client, smtp, session)
    operator = sign_in(app.test_client())
    answer(operator, row, "Vi tæller den nu som i brug.", publish=False)
    deliver(client)
    [mail] = smtp.inbox.to(LEAD)[1:]  # the first was the confirmation
    text, html = parts(mail)
    assert mail["Subject"] == "Svar på dit input til Infrastrukturmonitors metode"
    assert "Aftalen 5f0c… er i brug" in text and "Vi tæller den nu som i brug." in text
    assert "kun sendt til dig" in text and "/kommune/101" not in text
    assert b"Svar p=C3=A5 dit input" in smtp.inbox.raw[-1] or b"=?utf-8?" in smtp.inbox.raw[-1].lower()

    answer(operator, row, "Vi tæller den nu som i brug.", publish=True)  # published, same words: no new mail
    deliver(client)
    assert len(smtp.inbox.to(LEAD)) == 2
    answer(operator, row, "Vi tæller den som i brug fra næste kørsel.", publish=True)
    deliver(client)
    mail = smtp.inbox.to(LEAD)[-1]
    text, html = parts(mail)
    assert len(smtp.inbox.to(LEAD)) == 3 and "fra næste kørsel" in text
    assert re.search(r"https?://[^\s]+/kommune/101\?lang=da#svar", text), text
    assert 'href="http' in html and "/kommune/101?lang=da#svar" in html


def test_an_english_asker_gets_the_answer_in_english_and_an_unconfirmed_one_gets_none(
        client: FlaskClient, app, session: Session, smtp: SmtpServer) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/metode?lang=en").status_code == 200
    row = confirmed_input(client, smtp, session, municipality="", part="method", text="Why 90 days?")
    assert row.language == "en"
    send(client, email="anden@kommune.dk", municipality="", part="method", text="Unconfirmed")
    unconfirmed = stored(session)[-1]
    operator = sign_in(app.test_client())
    answer(operator, row, "Because a quarterly run must get to call.", publish=True)
    answer(operator, unconfirmed, "An answer", publish=False)
    deliver(client)
    mail = smtp.inbox.to(LEAD)[-1]
    text, _ = parts(mail)
    assert mail["Subject"] == "Answer to your input on Infrastrukturmonitor's method"
    assert "Our answer:" in text and "Because a quarterly run must get to call." in text
    assert re.search(r"/metode\?lang=en#svar", text) and "Vores svar" not in text
    assert len(smtp.inbox.to("anden@kommune.dk")) == 1  # its confirmation only


def test_an_input_never_confirmed_is_deleted_a_day_after_its_link_expired_and_a_confirmed_one_stays(
        client: FlaskClient, session: Session, settings: Settings, smtp: SmtpServer, now: dt.datetime) -> None:
    from monitor.db import make_engine
    from monitor.notify.retention import apply_retention

    confirmed = confirmed_input(client, smtp, session)
    send(client, email="anden@kommune.dk", text="Aldrig bekræftet")
    unconfirmed = stored(session)[-1]
    created = unconfirmed.created_at
    engine = make_engine(settings.database.url)
    expired = created + dt.timedelta(hours=settings.web.confirm_max_age_hours)
    apply_retention(engine, settings, expired + dt.timedelta(hours=23))  # expired, but not a day ago
    assert [r.id for r in stored(session)] == [confirmed.id, unconfirmed.id]
    apply_retention(engine, settings, expired + dt.timedelta(days=1, minutes=1))
    assert [r.id for r in stored(session)] == [confirmed.id]
    assert confirmed.text.startswith("Aftalen 5f0c")
    engine.dispose()

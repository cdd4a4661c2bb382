"""Every kind of mail, in both languages, read as the raw bytes a real SMTP server received.

The bytes are checked against the RFC 5322/2047/2369/8058/2045 grammar by
`tests/mailgrammar.py`, a strict parser that shares nothing with Python's `email` package
or with the code that writes the mails.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitor.links import record_served, root, serving
from monitor.models import Mail, Subscriber
from monitor.notify.invitations import InviteRow, invite
from monitor.notify.mailqueue import queue_mail
from monitor.notify.outbox import deliver_due, enqueue_for_update
from monitor.notify.wire import encoded_words, header, qp, wire_address
from monitor.settings import Settings
from tests import mailgrammar
from tests.conftest import make_settings
from tests.notify_helpers import SmtpServer, add_notice, add_subscriber, running_smtp, smtp_section

KINDS = ("confirm", "manage", "notice", "invitation")
LATER = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)  # every queued mail is due by then
# Interface text of the mail templates: none of it may reach an English reader.
DANISH = ("Afmeld", "Skift komponenter", "Åbn linket", "Bekræft", "Komponenter:", "Se meddelelsen",
          "tilmeld", "Linket virker", "Driftsforstyrrelse", "Undersøger", "invitationer", "kl.")
ENGLISH = ("Unsubscribe", "Change components or language")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with running_smtp(smtputf8=True) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str, smtp: SmtpServer) -> Settings:
    return make_settings(tmp_path, sqlite_url, mail=smtp_section(smtp),
                         web={"base_url": "https://infrastrukturmonitor.example.dk"})


def send_one(kind: str, language: str, session: Session, engine: Engine, settings: Settings,
             address: str = "leder@kommune.dk", title: str = "Organisation") -> None:
    """Produce one mail of `kind` through the real outbox."""
    if kind == "confirm":
        sub = add_subscriber(session, address, language=language, confirmed=False)
        queue_mail(session, "confirm", sub.address, language, subscriber=sub)
    elif kind == "manage":
        sub = add_subscriber(session, address, language=language)
        queue_mail(session, "manage", sub.address, language, subscriber=sub)
    elif kind == "notice":
        add_subscriber(session, address, ("organisation",), language=language)
        enqueue_for_update(session, add_notice(session, components=("organisation",), status="identified",
                                               title=title))
    else:
        invite(session, settings, [InviteRow(1, address, "organisation", language)], "genindmeldelse-2020",
               smtputf8=lambda: True)
    session.commit()
    report = deliver_due(engine, settings, now=LATER)
    assert report.sent == 1, report.summary()


@pytest.mark.parametrize("language", ["da", "en"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_mail_is_valid_on_the_wire_and_wholly_in_the_subscribers_language(
        kind: str, language: str, session: Session, engine: Engine, settings: Settings, smtp: SmtpServer) -> None:
    send_one(kind, language, session, engine, settings)
    [raw] = smtp.inbox.raw
    mail = mailgrammar.read(raw)
    assert mail.one("To").strip() == "leder@kommune.dk"
    assert mail.sender_name == "Infrastrukturmonitor"
    assert mail.one("Content-Type")
    text, html = mail.part("text/plain"), mail.part("text/html")
    url = re.fullmatch(r" <(.+)>", mail.one("List-Unsubscribe")).group(1)  # type: ignore[union-attr]
    assert url.startswith("https://infrastrukturmonitor.example.dk/")
    assert url in text and url in html  # the header's link is the one the mail shows
    if language == "en":
        for word in DANISH:
            assert word not in text and word not in html, (kind, word)
        assert any(word in text for word in ENGLISH) or kind == "invitation"
        assert 'lang="en"' in html
    else:
        assert any(word in text for word in ("Afmeld", "invitationer")), text
    if kind == "notice":
        expected = {"da": "[Driftsforstyrrelse] Organisation – Identificeret",
                    "en": "[Service disruption] Organisation – Identified"}[language]
        assert mail.subject == expected


def test_a_subject_keeps_the_space_before_a_word_that_starts_with_an_a_ring(
        session: Session, engine: Engine, settings: Settings, smtp: SmtpServer) -> None:
    send_one("notice", "da", session, engine, settings, title="Organisation Århus")
    mail = mailgrammar.read(smtp.inbox.raw[0])
    subject_lines = [line for line in mail.lines if line.startswith(("Subject:", " ", "\t"))]
    raw_subject = " ".join(line.strip() for line in subject_lines).removeprefix("Subject: ")
    assert re.search(r"Organisation =\?utf-8\?q\?", raw_subject), raw_subject
    assert mail.subject.endswith("Organisation Århus – Identificeret")


def test_one_click_unsubscribe_works_from_the_raw_header(
        tmp_path: Path, session: Session, engine: Engine, settings: Settings, smtp: SmtpServer) -> None:
    from monitor import create_app

    send_one("notice", "da", session, engine, settings)
    header_line = next(line for line in smtp.inbox.raw[0].split(b"\r\n") if line.startswith(b"List-Unsubscribe:"))
    url = re.fullmatch(rb"List-Unsubscribe: <https://infrastrukturmonitor\.example\.dk(/u/[A-Za-z0-9_.\-]+\?lang=da)>",
                       header_line)
    assert url, header_line
    client: FlaskClient = create_app(settings).test_client()
    response = client.post(url.group(1).decode(), data=b"List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    session.expire_all()
    assert session.scalars(select(Subscriber)).one().unsubscribed_at is not None


def test_an_internationalised_address_goes_out_with_smtputf8_and_the_domain_in_idna(
        session: Session, engine: Engine, settings: Settings, smtp: SmtpServer) -> None:
    send_one("confirm", "da", session, engine, settings, address="jørgen@kømmune.dk")
    [raw], [options], [recipients] = smtp.inbox.raw, smtp.inbox.options, smtp.inbox.recipients
    domain = "kømmune.dk".encode("idna").decode()  # the standard library's own IDNA codec
    assert "SMTPUTF8" in options
    assert recipients == [f"jørgen@{domain}"]
    mail = mailgrammar.read(raw, smtputf8=True)
    assert mail.one("To").strip() == f"jørgen@{domain}"
    assert "jørgen@kømmune.dk" in mail.part("text/plain")  # the reader sees the address as written


def test_an_ascii_address_with_a_non_ascii_domain_needs_no_smtputf8(
        session: Session, engine: Engine, settings: Settings, smtp: SmtpServer) -> None:
    send_one("manage", "en", session, engine, settings, address="leder@kømmune.dk")
    domain = "kømmune.dk".encode("idna").decode()  # the standard library's own IDNA codec
    assert "SMTPUTF8" not in smtp.inbox.options[0] and smtp.inbox.recipients == [[f"leder@{domain}"]]
    assert mailgrammar.read(smtp.inbox.raw[0]).one("To").strip() == f"leder@{domain}"


def test_upstream_images_never_reach_a_mail_and_links_keep_only_safe_schemes(
        session: Session, engine: Engine, settings: Settings, smtp: SmtpServer) -> None:
    add_subscriber(session, "a@k.dk")
    body = ('<p>Se <a href="https://status.example/i/1">status</a> og <a href="javascript:alert(1)">x</a>'
            '<img src="https://tracker.example/pixel.gif" alt=""></p>')
    enqueue_for_update(session, add_notice(session, body=body))
    session.commit()
    deliver_due(engine, settings, now=LATER)
    mail = mailgrammar.read(smtp.inbox.raw[0])
    html = mail.part("text/html")
    assert "tracker.example" not in html and "<img" not in html and "javascript:" not in html
    assert 'href="https://status.example/i/1"' in html


def test_a_recipient_refused_with_550_fails_for_good_and_is_never_retried(
        session: Session, engine: Engine, settings: Settings, smtp: SmtpServer) -> None:
    smtp.inbox.refuse.add("gone@kommune.dk")
    sub = add_subscriber(session, "gone@kommune.dk", confirmed=False)
    queue_mail(session, "confirm", sub.address, "da", subscriber=sub)
    session.commit()
    assert deliver_due(engine, settings, now=LATER).failed == 1
    assert deliver_due(engine, settings, now=LATER + dt.timedelta(days=1)).summary() == "sent 0, retry 0, failed 0"
    session.expire_all()
    assert session.scalars(select(Mail.status)).all() == ["failed"]


def test_without_smtputf8_on_the_server_an_internationalised_address_is_refused_on_the_form(
        tmp_path: Path, sqlite_url: str) -> None:
    from monitor import create_app

    with running_smtp(smtputf8=False) as plain:
        app = create_app(make_settings(tmp_path, sqlite_url, mail=smtp_section(plain)))
        client = app.test_client()
        page = client.get("/subscribe").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        refused = client.post("/subscribe", data={"email": "jørgen@kommune.dk", "language": "da",
                                                  "csrf_token": token})
        accepted = client.post("/subscribe", data={"email": "leder@kømmune.dk", "language": "da",
                                                   "csrf_token": token})
        engine = app.extensions["monitor"].engine
        with Session(engine) as session:
            addresses = session.scalars(select(Subscriber.address)).all()
        engine.dispose()
    assert refused.status_code == 400
    assert "kan ikke sende til adresser med æ, ø, å" in refused.get_data(as_text=True)
    assert accepted.status_code == 200
    assert addresses == ["leder@kømmune.dk"]


def test_links_follow_the_served_host_and_port_unless_base_url_is_set(tmp_path: Path) -> None:
    unset = make_settings(tmp_path, "sqlite://")
    assert root(unset) == "http://127.0.0.1:8000"  # where monitor serve listens by default
    served, warning = serving(unset, "127.0.0.1", 8001)
    assert root(served) == "http://127.0.0.1:8001" and warning is None
    assert served.web.base_url == ""  # the setting stays what the file says
    other = make_settings(tmp_path, "sqlite://", web={"base_url": "https://monitor.example.dk/"})
    kept, warning = serving(other, "127.0.0.1", 8001)
    assert root(kept) == "https://monitor.example.dk"
    assert warning is not None and "\n" not in warning and "http://127.0.0.1:8001" in warning
    same = make_settings(tmp_path, "sqlite://", web={"base_url": "http://127.0.0.1:8001/"})
    assert serving(same, "127.0.0.1", 8001)[1] is None


def test_a_notice_mail_links_to_where_monitor_serve_listens_when_base_url_is_unset(
        tmp_path: Path, sqlite_url: str, smtp: SmtpServer) -> None:
    from monitor.db import make_engine

    settings = make_settings(tmp_path, sqlite_url, mail=smtp_section(smtp))
    engine = make_engine(settings.database.url)
    record_served(engine, serving(settings, "127.0.0.1", 8001)[0])
    with Session(engine) as session:
        send_one("notice", "da", session, engine, settings)  # as `monitor notify`, a process of its own
    engine.dispose()
    mail = mailgrammar.read(smtp.inbox.raw[0])
    assert mail.one("List-Unsubscribe").startswith(" <http://127.0.0.1:8001/u/")
    assert "http://127.0.0.1:8001/driftsstatus?lang=da#notice-" in mail.part("text/plain")


def test_another_process_follows_the_recorded_origin_only_while_base_url_is_unset(tmp_path: Path,
                                                                                   sqlite_url: str) -> None:
    from monitor.db import make_engine, session_factory
    from monitor.links import with_recorded

    unset = make_settings(tmp_path, sqlite_url)
    engine = make_engine(unset.database.url)
    sessions = session_factory(engine)
    assert root(with_recorded(unset, sessions)) == "http://127.0.0.1:8000"  # nothing served yet
    record_served(engine, serving(unset, "127.0.0.1", 8001)[0])
    assert root(with_recorded(unset, sessions)) == "http://127.0.0.1:8001"
    configured = make_settings(tmp_path, sqlite_url, web={"base_url": "https://monitor.example.dk"})
    assert root(with_recorded(configured, sessions)) == "https://monitor.example.dk"
    # A process that serves itself links to its own origin, not to another's record.
    own = serving(unset, "127.0.0.1", 8002)[0]
    assert root(with_recorded(own, sessions)) == "http://127.0.0.1:8002"
    engine.dispose()


@given(st.text(min_size=0, max_size=300))
def test_any_subject_is_encoded_to_the_grammar_and_decodes_to_itself(text: str) -> None:
    expected = " ".join(text.split())
    block = header("Subject", text)
    assert block.endswith("\r\n") and block.isascii()
    lines = block[:-2].split("\r\n")
    assert all(len(line) <= 78 for line in lines), lines
    assert all(line[:1] in (" ", "\t") for line in lines[1:])
    value = "".join(lines)[len("Subject:"):]
    assert mailgrammar.decode_words(value, "Subject") == expected


@given(st.text(min_size=1, max_size=80))
def test_encoded_words_are_short_and_never_split_a_character(text: str) -> None:
    for word in encoded_words(text):
        assert len(word) <= 75 and word.startswith("=?utf-8?q?") and word.endswith("?=")
    assert "".join(mailgrammar.decode_q(w[10:-2], "utf-8") for w in encoded_words(text)) == text


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=2000))
def test_quoted_printable_bodies_decode_to_the_text_with_crlf_line_ends(text: str) -> None:
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    assert mailgrammar.decode_qp(qp(text)) == normalised.replace("\n", "\r\n")


def test_idna_domains_are_written_in_a_label_form() -> None:
    assert wire_address("a@æblegrød.dk").envelope == "a@" + "æblegrød.dk".encode("idna").decode()
    assert wire_address("a@æblegrød.dk").envelope.isascii()
    assert wire_address("jørgen@k.dk").smtputf8 and not wire_address("a@æblegrød.dk").smtputf8


ADDRESS_TEXT = st.one_of(
    st.text(max_size=80),
    st.builds(lambda local, domain: f"{local}@{domain}", st.text(min_size=1, max_size=30),
              st.text(min_size=1, max_size=30)),
    st.sampled_from(["jørgen@kommune.dk", "a@kømmune.dk", "a@-x.dk", "a@xn--zz.dk", "a@k.dk\r\nBcc: x@y.dk",
                     '"a b"@k.dk', "a@" + "x" * 300 + ".dk", "a@[127.0.0.1]", "ä@ß.de", "a@k.dk>"]))


def test_no_address_typed_into_the_form_gives_a_500_or_a_subscriber_without_its_mail(
        tmp_path: Path, sqlite_url: str) -> None:
    from hypothesis import HealthCheck
    from hypothesis import settings as hsettings

    from monitor import create_app

    with running_smtp(smtputf8=False) as plain:
        app = create_app(make_settings(tmp_path, sqlite_url, mail=smtp_section(plain),
                                       web={"rate_limit": "100000 per minute"}))
        client = app.test_client()
        page = client.get("/subscribe").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        counter = iter(range(10**6))

        @hsettings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @given(ADDRESS_TEXT)
        def post(text: str) -> None:
            response = client.post("/subscribe", data={"email": text, "language": "da", "csrf_token": token},
                                   environ_base={"REMOTE_ADDR": f"10.1.{next(counter) % 250}.1"})
            assert response.status_code in (200, 400, 429), (text, response.status_code)

        post()
        engine = app.extensions["monitor"].engine
        with Session(engine) as session:
            stored = session.execute(select(Subscriber.id, Subscriber.address)).all()
            mailed = set(session.scalars(select(Mail.subscriber_id)))
        engine.dispose()
    assert {sub_id for sub_id, _address in stored} == mailed  # every subscriber has its confirmation queued
    for _sub_id, address in stored:  # and every stored address can go on the wire
        assert not wire_address(address).smtputf8


MESSAGE_ID = re.compile(r"Message-ID: <([0-9a-f]{32})@[a-z.-]+>\r\n")


@pytest.mark.parametrize("kind", KINDS)
def test_a_reinstall_on_a_fresh_database_never_repeats_a_message_id(
        kind: str, tmp_path: Path, session: Session, engine: Engine, settings: Settings, smtp: SmtpServer) -> None:
    from monitor.db import make_engine, session_factory
    from monitor.migrate import upgrade

    send_one(kind, "da", session, engine, settings)
    again_url = f"sqlite:///{tmp_path / 'reinstalled.db'}"
    again = make_settings(tmp_path, again_url, mail=smtp_section(smtp),  # the same key, the same row ids
                          web={"base_url": "https://infrastrukturmonitor.example.dk"})
    fresh = make_engine(again_url)
    upgrade(fresh, again)
    with session_factory(fresh)() as fresh_session:
        send_one(kind, "da", fresh_session, fresh, again)
    fresh.dispose()
    ids = [MESSAGE_ID.search(raw.decode("utf-8")) for raw in smtp.inbox.raw]
    assert all(ids), smtp.inbox.raw
    first, second = (found.group(1) for found in ids if found)
    assert first != second

"""An English subscriber stays in English: every link in the raw mails carries the language,
and every page it opens answers in English, from subscribing to unsubscribing."""

from __future__ import annotations

import html
import quopri
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.models import Component
from monitor.notify.outbox import deliver_due, enqueue_for_update
from monitor.settings import Settings
from tests.notify_helpers import add_notice

# Words that only a Danish text has (from the templates and the catalogue's source strings),
# and the letters æ, ø and å, which no English text of ours contains.
DANISH_WORDS = ("og", "ikke", "til", "af", "fra", "din", "dine", "dig", "mig", "kl", "Bekræft", "tilmelding",
                "Tilmeldingen", "Afmeld", "afmeldt", "Gem", "Slet", "driftsmeddelelser", "meddelelsen", "Tjek",
                "indbakke", "siden", "Planlagt", "Undersøges", "Komponenter", "Oversigt", "Metode", "Abonnér",
                "hele", "infrastrukturen", "linket", "Linket", "dage", "timer", "sendes", "Driftsstatus")
DANISH_LETTERS = re.compile("[æøåÆØÅ]")
ADDRESS = "lead@municipality.example"


def danish_in(text: str, proper_names: list[str]) -> list[str]:
    """The Danish words and letters in `text`, once the proper names (which stay Danish) are taken out."""
    for name in sorted(proper_names, key=len, reverse=True):
        text = text.replace(name, " ")
    found = [w for w in DANISH_WORDS if re.search(rf"(?<![\w/.-]){re.escape(w)}(?![\w/-])", text)]
    return found + DANISH_LETTERS.findall(text)


def page_text(body: str) -> str:
    """What a reader sees of a page: no scripts, styles, tags or the switch to Danish."""
    body = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", body)
    body = re.sub(r'(?s)<a [^>]*hreflang="da"[^>]*>.*?</a>', " ", body)
    body = re.sub(r"(?s)<[^>]+>", " ", body)
    return html.unescape(body)


def wire(raw: bytes) -> tuple[str, str]:
    """The header block as sent, and the bodies decoded from quoted-printable, read from the bytes."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    boundary = re.search(rb'boundary="([^"]+)"', head)
    assert boundary, head
    bodies = []
    for part in rest.split(b"--" + boundary.group(1))[1:-1]:
        part_head, _, body = part.partition(b"\r\n\r\n")
        assert b"quoted-printable" in part_head
        bodies.append(quopri.decodestring(body).decode("utf-8"))
    return head.decode("ascii"), "\n".join(bodies)


def newest_mail(outbox: Path) -> tuple[str, str]:
    [newest] = sorted(Path(outbox).glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)[-1:]
    raw = newest.read_bytes()
    newest.unlink()
    return wire(raw)


def links(head: str, body: str) -> dict[str, str]:
    """The paths of the mail's links by kind (confirm, manage, u, driftsstatus), from the body and headers."""
    found: dict[str, str] = {}
    for url in re.findall(r"https?://[^\s<>\"']+", head + "\n" + body):
        path = re.sub(r"^https?://[^/]+", "", html.unescape(url))
        found.setdefault(path.split("/")[1].split("?")[0].split("#")[0], path)
    return found


def csrf_of(body: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', body)
    assert found, body
    return found.group(1)


@pytest.fixture
def proper_names(session: Session) -> list[str]:
    """Names that are Danish in both languages: the components, and the address."""
    return [*session.scalars(select(Component.name)), ADDRESS]


def english(response, proper_names: list[str]) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_data(as_text=True)
    assert '<html lang="en"' in body
    assert danish_in(page_text(body), proper_names) == []
    return body


def fresh(app: Flask) -> FlaskClient:
    """A browser that has never been here: no cookie, no Accept-Language."""
    return app.test_client()


def test_an_english_subscriber_reads_english_from_the_form_to_the_last_page(
        app: Flask, client: FlaskClient, session: Session, settings: Settings, proper_names: list[str]) -> None:
    outbox = settings.mail.outbox_dir
    form = english(client.get("/subscribe?lang=en"), proper_names)
    sent = client.post("/subscribe?lang=en", data={"email": ADDRESS, "components": ["serviceplatformen"],
                                                   "language": "en", "csrf_token": csrf_of(form)})
    english(sent, proper_names)
    deliver_due(app.extensions["monitor"].engine, settings)

    head, body = newest_mail(outbox)
    assert "Content-Language: en" in head
    assert danish_in(body, proper_names) == []
    confirm = links(head, body)
    assert {"confirm", "manage", "u"} <= confirm.keys()
    assert all(path.endswith("lang=en") for path in confirm.values()), confirm

    browser = fresh(app)
    page = english(browser.get(confirm["confirm"]), proper_names)
    english(browser.post(confirm["confirm"], data={"csrf_token": csrf_of(page)}), proper_names)

    update = add_notice(session, title="Delays on the platform", body="<p>We are looking into slow answers.</p>")
    assert enqueue_for_update(session, update) == 1
    session.commit()
    deliver_due(app.extensions["monitor"].engine, settings)
    head, body = newest_mail(outbox)
    assert danish_in(body, proper_names) == []
    assert re.search(r"\d\d:\d\d (CET|CEST)\b", body), body  # the zone's name, as on the pages
    notice = links(head, body)
    assert notice["driftsstatus"] == f"/driftsstatus?lang=en#notice-{update.notice_id}"
    assert re.search(r"^List-Unsubscribe: <https?://[^/]+/u/[^>]+\?lang=en>\r$", head + "\r", re.M), head

    english(fresh(app).get(notice["driftsstatus"].partition("#")[0]), proper_names)

    browser = fresh(app)
    page = english(browser.get(notice["manage"]), proper_names)
    saved = browser.post(notice["manage"], data={"email": ADDRESS, "components": ["serviceplatformen"],
                                                 "language": "en", "csrf_token": csrf_of(page)})
    english(saved, proper_names)

    browser = fresh(app)
    page = english(browser.get(notice["u"]), proper_names)
    english(browser.post(notice["u"], data={"csrf_token": csrf_of(page)}), proper_names)


def test_a_danish_subscriber_gets_links_that_keep_danish_whatever_the_browser_remembers(
        app: Flask, client: FlaskClient, session: Session, settings: Settings) -> None:
    page = client.get("/subscribe")
    client.post("/subscribe", data={"email": ADDRESS, "language": "da", "csrf_token": csrf_of(page.get_data(as_text=True))})
    deliver_due(app.extensions["monitor"].engine, settings)
    head, body = newest_mail(settings.mail.outbox_dir)
    confirm = links(head, body)
    assert confirm["confirm"].endswith("?lang=da")
    browser = fresh(app)
    browser.get("/?lang=en")  # this browser chose English once
    assert '<html lang="da"' in browser.get(confirm["confirm"]).get_data(as_text=True)


def test_a_language_chosen_on_a_page_is_remembered_by_a_cookie(client: FlaskClient) -> None:
    client.get("/metode?lang=en")
    assert '<html lang="en"' in client.get("/subscribe").get_data(as_text=True)
    client.get("/metode?lang=da")
    assert '<html lang="da"' in client.get("/subscribe").get_data(as_text=True)

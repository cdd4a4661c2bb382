"""Requests that race for one new row: concurrent subscribes with one address, concurrent accepts
of one invitation. Served by a real threaded HTTP server, on SQLite and PostgreSQL: every answer
is the normal page, never a 500, and there is one subscriber afterwards."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from flask import Flask
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from monitor import create_app
from monitor.models import Mail, Subscriber
from monitor.notify.invitations import InviteRow, invite
from monitor.notify.outbox import deliver_due
from monitor.settings import Settings
from tests.conftest import make_settings
from tests.notify_helpers import eml_files, parts
from tests.serving import serving

ROUNDS = 4
RACERS = 3


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, db_url, web={"rate_limit": "1000 per minute"})


@pytest.fixture
def served(settings: Settings, engine: Engine):  # type: ignore[no-untyped-def]
    app: Flask = create_app(settings)
    with serving(app) as port:
        yield f"http://127.0.0.1:{port}"
    app.extensions["monitor"].engine.dispose()


def signed_form(url: str) -> tuple[requests.Session, str]:
    """A client of its own with the form's CSRF token (and the cookie it belongs to)."""
    client = requests.Session()
    page = client.get(url, timeout=30).text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return client, found.group(1)


def race(clients: list[tuple[requests.Session, str]],
         post: Callable[[requests.Session, str], requests.Response]) -> list[int]:
    """`post` once per client, each in its own thread, all released at the same moment; the status codes."""
    start = threading.Barrier(len(clients))
    codes: list[int] = []

    def one(client: requests.Session, token: str) -> None:
        start.wait()
        codes.append(post(client, token).status_code)

    threads = [threading.Thread(target=one, args=pair) for pair in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return codes


def test_concurrent_subscribes_with_one_new_address_all_get_the_page_and_make_one_subscriber(
        served: str, session: Session) -> None:
    for n in range(ROUNDS):
        address = f"samtidig{n}@k.dk"
        clients = [signed_form(f"{served}/subscribe") for _ in range(RACERS)]

        def post(client: requests.Session, token: str, address: str = address) -> requests.Response:
            return client.post(f"{served}/subscribe", timeout=60, data={
                "email": address, "components": ["organisation"], "language": "da", "csrf_token": token})

        assert race(clients, post) == [200] * RACERS
        session.expire_all()
        assert session.scalar(select(func.count()).select_from(Subscriber).where(Subscriber.address == address)) == 1
        assert session.scalar(select(func.count()).select_from(Mail).where(Mail.address == address)) == RACERS


def test_concurrent_accepts_of_one_invitation_all_get_the_page_and_make_one_confirmed_subscriber(
        served: str, session: Session, engine: Engine, settings: Settings, tmp_path: Path) -> None:
    invite(session, settings, [InviteRow(n, f"inviteret{n}@k.dk") for n in range(ROUNDS)], "c1",
           smtputf8=lambda: True)
    session.commit()
    deliver_due(engine, settings, now=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
    paths = [m.group(1) for mail in eml_files(tmp_path / "outbox")
             if (m := re.search(r"https?://[^\s/]+(/invitation/[A-Za-z0-9_.\-]+)\?lang=da\s", parts(mail)[0]))]
    assert len(paths) == ROUNDS
    for path in paths:
        clients = [signed_form(f"{served}{path}") for _ in range(RACERS)]

        def post(client: requests.Session, token: str, path: str = path) -> requests.Response:
            return client.post(f"{served}{path}", timeout=60,
                               data={"components": [], "language": "da", "csrf_token": token})

        assert race(clients, post) == [200] * RACERS
    session.expire_all()
    subscribers = list(session.scalars(select(Subscriber)))
    assert sorted(s.address for s in subscribers) == [f"inviteret{n}@k.dk" for n in range(ROUNDS)]
    assert all(s.confirmed_at is not None for s in subscribers)

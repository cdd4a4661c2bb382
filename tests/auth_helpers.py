"""Signing a test client in as an operator, through the real sign-in link."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from monitor.users import add_user, issue_link

OPERATOR = "drift@example.dk"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(client: FlaskClient, path: str = "/login") -> str:
    """A CSRF token from the form at `path`."""
    found = CSRF.search(client.get(path).get_data(as_text=True))
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def add_operator(app: Flask, address: str = OPERATOR) -> None:
    """Make `address` an operator in the app's database."""
    with app.extensions["monitor"].sessions() as session, session.begin():
        add_user(session, address, "operator")


def app_now(app: Flask) -> dt.datetime:
    """The instant `app` reads: the clock a test gave it (`MONITOR_CLOCK`, from the `now` fixture), else
    the process's clock, exactly as the views read it."""
    from monitor.web.auth import now

    with app.app_context():
        return now()


def link_for(app: Flask, address: str = OPERATOR, minutes: int = 15, now: dt.datetime | None = None) -> str:
    """A fresh sign-in link path (/login/TOKEN) for the operator `address`, as the mail carries it,
    issued at `now` (default: the app's clock)."""
    from sqlalchemy import select

    from monitor.models import User

    with app.extensions["monitor"].sessions() as session, session.begin():
        user = session.scalars(select(User).where(User.email == address)).one()
        token = issue_link(session, str(app.secret_key or "test-secret"), user, minutes,
                           now or app_now(app))
    return f"/login/{token}"


def sign_in(client: FlaskClient, address: str = OPERATOR) -> FlaskClient:
    """Add `address` as an operator (if needed) and sign `client` in with a link."""
    app = client.application
    add_operator(app, address)
    path = link_for(app, address)
    response = client.post(path, data={"csrf_token": csrf(client, path)})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return client


def deliver_mails(app: Flask, now: dt.datetime | None = None):  # type: ignore[no-untyped-def]
    """Run the mail queue once, as the scheduler and `monitor notify` do; its report."""
    from monitor.notify.outbox import deliver_due

    state = app.extensions["monitor"]
    return deliver_due(state.engine, state.settings, now)


def mailed_link(outbox: Path, to: str) -> str:
    """The sign-in link path in the newest mail to `to` in the file outbox."""
    for path in sorted(outbox.glob("*.eml"), reverse=True):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if msg["To"].addresses[0].addr_spec == to:
            text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            found = re.search(r"https?://[^/\s]+(/login/\S+)", text)
            assert found, text
            return found.group(1)
    raise AssertionError(f"no mail to {to} in {outbox}")

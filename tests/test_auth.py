"""Operator sign-in: mailed single-use links, sessions that end, and answers that reveal nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor import create_app
from monitor.models import AuditEvent, LoginLink, User
from monitor.users import LinkError, add_user, check_link, issue_link, remove_user, use_link
from tests.auth_helpers import OPERATOR, add_operator, csrf, deliver_mails, link_for, mailed_link, sign_in
from tests.conftest import make_settings


def request_link(client: FlaskClient, address: str):  # type: ignore[no-untyped-def]
    """Ask for a sign-in link, then let the mail queue run once (the answer itself sends nothing)."""
    response = client.post("/login", data={"email": address, "csrf_token": csrf(client)})
    response.close()
    deliver_mails(client.application)
    return response


def follow_link(client: FlaskClient, path: str):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf_token": csrf(client, path)})


def test_an_operator_signs_in_from_the_mailed_link_and_out_again(app: Flask, client: FlaskClient, settings) -> None:
    add_operator(app)
    refused = client.get("/drift")
    assert refused.status_code == 303 and refused.location == "/login"

    assert request_link(client, "Drift@Example.DK").status_code == 200
    path = mailed_link(settings.path(settings.mail.outbox_dir), OPERATOR)
    landing = client.get(path)
    assert landing.status_code == 200 and "d…t@example.dk" in landing.get_data(as_text=True)
    assert client.get("/drift").status_code == 303, "the GET of the link signs nobody in"

    signed_in = follow_link(client, path)
    assert signed_in.status_code == 303 and signed_in.location == "/drift", "back where the visitor was sent away"
    page = client.get("/drift")
    assert page.status_code == 200 and "Log over driftsansvarliges handlinger" in page.get_data(as_text=True)

    assert client.post("/logout", data={"csrf_token": csrf(client, "/drift")}).status_code == 303
    assert client.get("/drift").status_code == 303
    with app.extensions["monitor"].sessions() as session:
        actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["users.add", "sign_in_link", "sign_in", "sign_out"]


def test_a_second_use_of_a_sign_in_link_says_it_was_used(app: Flask, client: FlaskClient) -> None:
    add_operator(app)
    path = link_for(app)
    assert follow_link(client, path).status_code == 303
    other = app.test_client()
    again = other.get(path)
    assert again.status_code == 410 and "Linket er allerede brugt" in again.get_data(as_text=True)
    posted = follow_link(other, "/login")  # a fresh CSRF token, then the used link by POST
    assert posted.status_code == 200
    spent = other.post(path, data={"csrf_token": csrf(other)})
    assert spent.status_code == 410 and "allerede brugt" in spent.get_data(as_text=True)
    assert other.get("/drift").status_code == 303


@pytest.mark.parametrize("tamper", ["flip a character", "other key", "other purpose", "not a token", "huge"])
def test_a_tampered_sign_in_link_is_refused_and_signs_nobody_in(app: Flask, client: FlaskClient, tamper: str) -> None:
    add_operator(app)
    token = link_for(app).removeprefix("/login/")
    payload = URLSafeSerializer(str(app.secret_key), salt="monitor.login").loads(token)
    forged = {
        "flip a character": token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:],
        "other key": URLSafeSerializer("another key", salt="monitor.login").dumps(payload),
        "other purpose": URLSafeSerializer(str(app.secret_key), salt="monitor.notify.manage").dumps(payload),
        "not a token": "%%%",
        "huge": token * 50,
    }[tamper]
    path = f"/login/{forged}"
    page = client.get(path)
    assert page.status_code in (400, 404) and "/drift" not in (page.location or "")
    assert client.post(path, data={"csrf_token": csrf(client)}).status_code in (400, 404)
    assert client.get("/drift").status_code == 303


def test_a_link_for_a_nonce_of_another_operator_is_refused(session: Session, now: dt.datetime) -> None:
    alice = add_user(session, "alice@example.dk", "operator", now=now)
    bob = add_user(session, "bob@example.dk", "operator", now=now)
    token = issue_link(session, "k", alice, 15, now)
    nonce = URLSafeSerializer("k", salt="monitor.login").loads(token)["n"]
    swapped = URLSafeSerializer("k", salt="monitor.login").dumps({"u": bob.id, "n": nonce})
    with pytest.raises(LinkError) as refused:
        use_link(session, "k", swapped, now)
    assert refused.value.reason == "invalid"


def test_a_sign_in_link_works_until_it_expires_and_not_a_second_after(session: Session, now: dt.datetime) -> None:
    user = add_user(session, OPERATOR, "operator", now=now)
    token = issue_link(session, "k", user, 15, now)
    assert check_link(session, "k", token, now + dt.timedelta(minutes=14, seconds=59)).user.id == user.id
    with pytest.raises(LinkError) as expired:
        use_link(session, "k", token, now + dt.timedelta(minutes=15))
    assert expired.value.reason == "expired"
    assert use_link(session, "k", token, now + dt.timedelta(minutes=1)).id == user.id
    with pytest.raises(LinkError) as used:
        use_link(session, "k", token, now + dt.timedelta(minutes=2))
    assert used.value.reason == "used"


def test_an_expired_link_says_so_on_the_page(app: Flask, client: FlaskClient, now: dt.datetime) -> None:
    app.config["MONITOR_CLOCK"] = lambda: now
    add_operator(app)
    path = link_for(app, minutes=15, now=now - dt.timedelta(minutes=16))
    page = client.get(path)
    assert page.status_code == 410 and "Linket er udløbet" in page.get_data(as_text=True)


def _without_csrf(response) -> tuple[int, str, list[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    """Status, body and headers, less the CSRF token (in the form and the session cookie), the request id
    and the rate limit's reset times (which follow the clock, not the address)."""
    body = re.sub(r'name="csrf_token" value="[^"]+"', "", response.get_data(as_text=True))
    headers = [(k, re.sub(r"^session=[^;]*", "session=…", v) if k == "Set-Cookie" else v)
               for k, v in response.headers.items() if k not in ("X-Request-ID", "X-RateLimit-Reset", "Retry-After")]
    return response.status_code, body, sorted(headers)


def test_the_login_answer_is_the_same_for_an_operator_a_stranger_and_nonsense(app: Flask, settings) -> None:
    from monitor.web.limits import limiter

    with app.app_context():
        limiter.reset()  # the counts of earlier tests in this process
    add_operator(app, "known@example.dk")
    answers = []
    for i, address in enumerate(("known@example.dk", "stranger@example.dk", "not an address", "")):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"192.0.2.{i + 1}"  # each its own rate-limit count
        answers.append(_without_csrf(request_link(client, address)))
    assert all(a == answers[0] for a in answers), [set(a[2]) ^ set(answers[0][2]) for a in answers]
    assert answers[0][0] == 200
    outbox = settings.path(settings.mail.outbox_dir)
    assert len(list(outbox.glob("*.eml"))) == 1, "a link went to the operator only"


def test_a_session_ends_after_session_hours(app: Flask, client: FlaskClient, now: dt.datetime) -> None:
    app.config["MONITOR_CLOCK"] = lambda: now
    sign_in(client)
    assert client.get("/drift").status_code == 200
    later = now + dt.timedelta(hours=12, minutes=1)
    app.config["MONITOR_CLOCK"] = lambda: later
    assert client.get("/drift").status_code == 303


def test_removing_an_operator_ends_their_session_at_once(app: Flask, client: FlaskClient) -> None:
    sign_in(client)
    with app.extensions["monitor"].sessions() as session, session.begin():
        assert remove_user(session, OPERATOR)
    assert client.get("/drift").status_code == 303


def test_a_stale_form_is_refused_because_csrf_tokens_expire(app: Flask, client: FlaskClient,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    add_operator(app)
    token = csrf(client)
    issued_at = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: issued_at(self) + 3601)
    response = client.post("/login", data={"email": OPERATOR, "csrf_token": token})
    assert response.status_code == 400 and "Formularen er udløbet" in response.get_data(as_text=True)


def _cookie(response, name: str) -> str:  # type: ignore[no-untyped-def]
    return next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(name + "="))


@pytest.mark.parametrize("base_url, secure", [("http://127.0.0.1:8000", False), ("https://monitor.example.dk", True)])
def test_the_session_cookie_is_httponly_samesite_lax_and_secure_under_https(tmp_path, sqlite_url, base_url,
                                                                           secure) -> None:
    app = create_app(make_settings(tmp_path, sqlite_url, web={"base_url": base_url}))
    client = app.test_client()
    cookie = _cookie(client.get("/login"), "session")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert ("; Secure" in cookie) is secure
    app.extensions["monitor"].engine.dispose()


def test_next_never_leaves_the_site(app: Flask, client: FlaskClient) -> None:
    with client.session_transaction() as s:
        s["after_sign_in"] = "//evil.example/"
    add_operator(app)
    path = link_for(app)
    assert follow_link(client, path).location == "/drift"


def test_the_operators_are_managed_from_the_command_line(tmp_path, sqlite_url) -> None:
    from click.testing import CliRunner

    from monitor.cli import cli

    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{sqlite_url}"\n')
    run = CliRunner().invoke
    added = run(cli, ["--config", str(config), "users", "add", "Ops@Example.dk", "--role", "operator"])
    assert added.exit_code == 0, added.output
    listed = run(cli, ["--config", str(config), "users", "list"])
    assert "ops@example.dk\toperator\tlast sign-in: never" in listed.output
    assert run(cli, ["--config", str(config), "users", "add", "not-an-address"]).exit_code != 0
    assert run(cli, ["--config", str(config), "users", "remove", "ops@example.dk"]).exit_code == 0
    assert "ops@example.dk" not in run(cli, ["--config", str(config), "users", "list"]).output
    assert run(cli, ["--config", str(config), "users", "remove", "ops@example.dk"]).exit_code != 0


def test_an_expired_link_row_is_purged_a_day_later(session: Session, now: dt.datetime) -> None:
    from monitor.users import purge_links

    user = add_user(session, OPERATOR, "operator", now=now)
    issue_link(session, "k", user, 15, now)
    session.flush()
    assert purge_links(session, now + dt.timedelta(hours=23)) == 0
    assert purge_links(session, now + dt.timedelta(days=1, minutes=16)) == 1
    assert session.scalars(select(LoginLink)).first() is None
    assert session.get(User, user.id) is not None


def test_the_demo_adds_its_operator_and_says_how_to_sign_in(tmp_path, sqlite_url) -> None:
    from monitor.cli import Context, demo_operator

    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{sqlite_url}"\n[mail]\nbackend = "file"\noutbox_dir = "var/outbox"\n')
    ctx = Context(str(config))
    told = demo_operator(ctx)
    assert told == (f"operator: sign in at http://127.0.0.1:8000/login (the default port of monitor serve; "
                    f"with --port P use port P) as drift@demo.invalid; "
                    f"the link arrives as an .eml file in {tmp_path / 'var' / 'outbox'}")
    assert demo_operator(ctx) == told, "a second demo keeps the one operator"
    with Session(ctx.engine) as session:
        assert [u.email for u in session.scalars(select(User))] == ["drift@demo.invalid"]
    ctx.close()


def test_the_rate_limit_storage_comes_from_config_toml_or_the_environment(tmp_path, sqlite_url) -> None:
    from monitor.settings import ConfigError, from_mapping

    shared = {"web": {"ratelimit_storage": "redis://127.0.0.1:6379/0"}}
    assert from_mapping(shared, environ={}).web.ratelimit_storage == "redis://127.0.0.1:6379/0"
    assert from_mapping({}, environ={}).web.ratelimit_storage == "memory://"
    from_env = from_mapping({}, environ={"MONITOR_RATELIMIT_STORAGE": "redis://cache.example.dk:6380/2"})
    assert from_env.web.ratelimit_storage == "redis://cache.example.dk:6380/2"
    with pytest.raises(ConfigError, match=r"^web\.ratelimit_storage: expected a storage URI"):
        from_mapping({"web": {"ratelimit_storage": "localhost:6379"}}, environ={})
    app = create_app(make_settings(tmp_path, sqlite_url, web={"ratelimit_storage": "memory://"}))
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"
    app.extensions["monitor"].engine.dispose()


@pytest.mark.parametrize(("language", "expected", "absent"), [
    ("da", "Log ind på Infrastrukturmonitor", "Sign in"),
    ("en", "Sign in to Infrastrukturmonitor", "Log ind"),
])
def test_the_sign_in_mail_is_valid_on_the_wire_in_the_readers_language(
        app: Flask, client: FlaskClient, settings, language: str, expected: str, absent: str) -> None:
    from tests import mailgrammar

    add_operator(app)
    client.get(f"/login?lang={language}")
    request_link(client, OPERATOR)
    [raw_path] = settings.path(settings.mail.outbox_dir).glob("*.eml")
    raw = raw_path.read_bytes()
    mail = mailgrammar.read(raw)  # the strict grammar on the bytes as written, not a parse by `email`
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert mail.subject == expected
    assert "list-unsubscribe" not in mail.fields, "a sign-in mail is not a list"
    text, html = mail.part("text/plain"), mail.part("text/html")
    assert re.search(r"/login/\S+", text) and "/login/" in html
    assert absent not in text and absent not in html

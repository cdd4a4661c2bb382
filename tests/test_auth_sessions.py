"""Operator sessions that end on the server, and identities that are never reused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from monitor.cli import cli
from monitor.models import OperatorSession, User
from tests.auth_helpers import csrf, sign_in

BOB, CAROL = "bob@example.dk", "carol@example.dk"


def monitor(app: Flask, tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    """Run `monitor ARGS…` against the app's database."""
    config = tmp_path / "cli-config.toml"
    config.write_text(f'[database]\nurl = "{app.extensions["monitor"].settings.database.url}"\n')
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def copy_of(client: FlaskClient) -> FlaskClient:
    """Another client holding the same session cookie (a copied cookie)."""
    other = client.application.test_client()
    cookie = client.get_cookie("session")
    assert cookie is not None
    other.set_cookie("session", cookie.value)
    return other


def user_id(app: Flask, address: str) -> int:
    with app.extensions["monitor"].sessions() as session:
        return session.scalars(select(User.id).where(User.email == address)).one()


def test_a_removed_operators_cookie_never_signs_in_as_the_operator_added_after_them(
        app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    sign_in(client, BOB)
    assert client.get("/drift").status_code == 200
    kept = copy_of(client)
    bob = user_id(app, BOB)

    assert monitor(app, tmp_path, "users", "remove", BOB).exit_code == 0
    assert monitor(app, tmp_path, "users", "add", CAROL).exit_code == 0

    assert user_id(app, CAROL) > bob, "carol gets a new id, never bob's"
    refused = kept.get("/drift")
    assert refused.status_code == 303 and refused.location == "/login"
    assert "carol" not in kept.get("/login").get_data(as_text=True)


def test_the_cookie_carries_a_token_of_its_session_and_the_table_keeps_only_its_hash(
        app: Flask, client: FlaskClient) -> None:
    sign_in(client, BOB)
    with client.session_transaction() as cookie:
        token = cookie["_user_id"]
    with app.extensions["monitor"].sessions() as session:
        [row] = session.scalars(select(OperatorSession)).all()
    assert len(token) >= 40 and token != row.id and token not in row.id
    assert str(user_id(app, BOB)) != token


def test_after_logout_a_copy_of_the_cookie_is_refused(app: Flask, client: FlaskClient) -> None:
    sign_in(client, BOB)
    copy = copy_of(client)
    assert copy.get("/drift").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf(client, "/drift")}).status_code == 303
    refused = copy.get("/drift")
    assert refused.status_code == 303 and refused.location == "/login"


def test_a_session_ends_when_its_hours_are_over_even_with_the_cookie_kept(app: Flask, client: FlaskClient,
                                                                          now: dt.datetime) -> None:
    app.config["MONITOR_CLOCK"] = lambda: now
    sign_in(client, BOB)
    copy = copy_of(client)
    later = now + dt.timedelta(hours=12, seconds=1)
    app.config["MONITOR_CLOCK"] = lambda: later
    assert copy.get("/drift").status_code == 303


def test_the_live_sessions_are_listed_and_revoked_from_the_command_line(
        app: Flask, tmp_path: Path) -> None:
    bob, carol = sign_in(app.test_client(), BOB), sign_in(app.test_client(), CAROL)
    second_bob = sign_in(app.test_client(), BOB)

    listed = monitor(app, tmp_path, "users", "sessions")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert len(lines) == 3 and sum(BOB in line for line in lines) == 2 and sum(CAROL in line for line in lines) == 1
    short_ids = [line.split("\t")[0] for line in lines]
    assert all(len(short) == 8 for short in short_ids)
    with app.extensions["monitor"].sessions() as session:
        assert all(len(row.id) == 64 for row in session.scalars(select(OperatorSession)))

    revoked = monitor(app, tmp_path, "users", "sessions", "--revoke", BOB)
    assert revoked.exit_code == 0 and "2 session(s) ended" in revoked.output
    assert bob.get("/drift").status_code == second_bob.get("/drift").status_code == 303
    assert carol.get("/drift").status_code == 200

    carol_line = next(line for line in monitor(app, tmp_path, "users", "sessions").output.splitlines())
    assert monitor(app, tmp_path, "users", "sessions", "--revoke", carol_line.split("\t")[0]).exit_code == 0
    assert carol.get("/drift").status_code == 303
    assert monitor(app, tmp_path, "users", "sessions").output.strip() == "no live sessions"
    assert monitor(app, tmp_path, "users", "sessions", "--revoke", "nobody@example.dk").exit_code != 0


def test_revoke_all_ends_every_session(app: Flask, tmp_path: Path) -> None:
    clients = [sign_in(app.test_client(), address) for address in (BOB, CAROL)]
    ended = monitor(app, tmp_path, "users", "sessions", "--revoke-all")
    assert ended.exit_code == 0 and "2 session(s) ended" in ended.output
    assert all(c.get("/drift").status_code == 303 for c in clients)
    assert monitor(app, tmp_path, "users", "sessions", "--revoke-all", "--revoke", BOB).exit_code != 0


def test_removing_an_operator_deletes_their_sessions(app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    sign_in(client, BOB)
    assert monitor(app, tmp_path, "users", "remove", BOB).exit_code == 0
    with app.extensions["monitor"].sessions() as session:
        assert session.scalars(select(OperatorSession)).first() is None

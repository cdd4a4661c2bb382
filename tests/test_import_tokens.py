"""`monitor tokens`: a bearer token per supplier for the HTTP import, shown once and stored hashed."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from monitor.importtokens import authenticate, digest
from monitor.models import ImportToken
from tests.cli_helpers import printed, run_cli


def test_a_token_is_printed_once_and_only_its_hash_is_stored(monkeypatch, settings, session):
    result = run_cli(monkeypatch, settings, "tokens", "add", "netcompany")
    assert result.exit_code == 0, result.output
    token = printed(result)[0]
    assert len(token) >= 43
    row = session.scalars(select(ImportToken)).one()
    assert row.name == "netcompany"
    assert row.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr([getattr(row, c.key) for c in ImportToken.__table__.columns])


def test_the_list_names_each_token_with_when_it_was_made_and_last_used_but_never_the_token(
        monkeypatch, settings, session, now):
    token = printed(run_cli(monkeypatch, settings, "tokens", "add", "kmd"))[0]
    run_cli(monkeypatch, settings, "tokens", "add", "netcompany")
    assert authenticate(session, token, now) is not None
    session.commit()
    listing = printed(run_cli(monkeypatch, settings, "tokens", "list"))
    assert [line.split("\t")[0] for line in listing] == ["kmd", "netcompany"]
    assert "last used: 2020-11-28 12:00 CET" in listing[0]
    assert "last used: never" in listing[1]
    assert all(token not in line for line in listing)


def test_a_removed_token_no_longer_authenticates(monkeypatch, settings, session, now):
    token = printed(run_cli(monkeypatch, settings, "tokens", "add", "kmd"))[0]
    assert run_cli(monkeypatch, settings, "tokens", "remove", "kmd").exit_code == 0
    assert authenticate(session, token, now) is None
    again = run_cli(monkeypatch, settings, "tokens", "remove", "kmd")
    assert again.exit_code == 1 and "no token named 'kmd'" in again.output


def test_a_second_token_for_the_same_supplier_or_a_bad_name_is_refused(monkeypatch, settings):
    run_cli(monkeypatch, settings, "tokens", "add", "kmd")
    twice = run_cli(monkeypatch, settings, "tokens", "add", "kmd")
    assert twice.exit_code == 1 and "already has a token" in twice.output
    bad = run_cli(monkeypatch, settings, "tokens", "add", "kmd a/s")
    assert bad.exit_code == 1 and "refused" in bad.output


def test_only_the_exact_token_authenticates(monkeypatch, settings, session, now):
    token = printed(run_cli(monkeypatch, settings, "tokens", "add", "kmd"))[0]
    for other in ("", token[:-1], token + "x", token.upper(), digest(token), "x" * 10_000):
        assert authenticate(session, other, now) is None, other
    assert authenticate(session, token, now) is not None


def test_a_removed_tokens_id_is_never_given_to_the_next(monkeypatch, settings, session):
    run_cli(monkeypatch, settings, "tokens", "add", "a")
    run_cli(monkeypatch, settings, "tokens", "add", "b")
    run_cli(monkeypatch, settings, "tokens", "remove", "b")
    run_cli(monkeypatch, settings, "tokens", "add", "c")
    ids = {row.name: row.id for row in session.scalars(select(ImportToken))}
    assert ids["c"] > ids["a"] + 1

"""Webhook subscribers are registered by the operator, and the address and token rules hold."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.cli import cli
from monitor.models import Subscriber
from monitor.notify.subscriptions import AddressError, normalise_email, normalise_webhook_url
from monitor.notify.tokens import TokenError, make_token, read_token


def config(tmp_path: Path, db_url: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "{db_url}"\n', encoding="utf-8")
    return str(path)


def run(cfg: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--config", cfg, "webhooks", *args])


def test_the_operator_adds_lists_and_removes_a_webhook(tmp_path: Path, db_url: str, session: Session) -> None:
    cfg = config(tmp_path, db_url)
    url = "https://hooks.example/services/T000/B000/secret"
    result = run(cfg, "add", url, "--component", "serviceplatformen", "--component", "organisation")
    assert result.exit_code == 0, result.output
    assert "follows serviceplatformen, organisation" in result.output
    sub = session.scalars(select(Subscriber)).one()
    assert sub.channel == "webhook" and sub.confirmed_at is not None and not sub.all_components
    result = run(cfg, "list")
    assert result.exit_code == 0 and f"active [organisation, serviceplatformen] {url}" in result.output
    assert run(cfg, "remove", url).exit_code == 0
    session.expire_all()
    assert session.scalars(select(Subscriber)).one().unsubscribed_at is not None
    result = run(cfg, "remove", url)
    assert result.exit_code == 1 and "no such active webhook" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["add", "ftp://hooks.example/x"], "not an http(s) URL"),
    (["add", "https://user:pw@hooks.example/x"], "credentials in the URL"),
    (["add", "https://hooks.example/x", "--component", "nope"], "nope"),
])
def test_a_bad_webhook_is_refused_and_nothing_is_stored(tmp_path: Path, db_url: str, session: Session,
                                                        args: list[str], message: str) -> None:
    result = run(config(tmp_path, db_url), *args)
    assert result.exit_code == 1
    assert "refused" in result.output and message in result.output
    assert session.scalars(select(Subscriber)).all() == []


@pytest.mark.parametrize(("text", "expected"), [
    ("Leder@Kommune.DK", "leder@kommune.dk"),
    ("  a.b+tag@sub.k.dk ", "a.b+tag@sub.k.dk"),
    ("anne@københavn.dk", "anne@københavn.dk"),
])
def test_addresses_are_normalised(text: str, expected: str) -> None:
    assert normalise_email(text) == expected


@pytest.mark.parametrize("text", ["", "plain", "a@", "@k.dk", "a@@k.dk", "a b@k.dk", "a@k..dk",
                                  "a@k.dk\nBcc: x@y.dk", "x" * 250 + "@k.dk"])
def test_broken_addresses_are_refused(text: str) -> None:
    with pytest.raises(AddressError):
        normalise_email(text)


@given(st.emails())
def test_normalising_an_address_twice_changes_nothing(address: str) -> None:
    try:
        once = normalise_email(address)
    except AddressError:
        return
    assert normalise_email(once) == once


def test_a_webhook_url_must_be_http() -> None:
    assert normalise_webhook_url(" https://h.example/x ") == "https://h.example/x"
    with pytest.raises(AddressError):
        normalise_webhook_url("javascript:alert(1)")


@given(st.integers(min_value=1, max_value=2**31), st.integers(min_value=0, max_value=1000),
       st.sampled_from(["confirm", "manage", "unsubscribe"]))
def test_a_token_reads_back_only_for_its_own_purpose_and_key(subscriber_id: int, version: int, purpose: str) -> None:
    sub = Subscriber(id=subscriber_id, token_version=version, address="a@k.dk")
    token = make_token("key", purpose, sub)
    payload = read_token("key", purpose, token)
    assert (payload.subscriber_id, payload.version, payload.address) == (subscriber_id, version, None)
    for other in {"confirm", "manage", "unsubscribe"} - {purpose}:
        with pytest.raises(TokenError):
            read_token("key", other, token)
    with pytest.raises(TokenError):
        read_token("other key", purpose, token)


@given(st.text(max_size=80))
def test_any_garbage_token_is_refused_cleanly(token: str) -> None:
    with pytest.raises(TokenError) as exc:
        read_token("key", "unsubscribe", token)
    assert exc.value.reason == "invalid"

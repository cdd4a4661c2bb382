"""POST /api/v1/imports/calls: a supplier posts a call-count file with its bearer token and gets
the inbox's checks, ledger and report back as JSON."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
import time_machine
from sqlalchemy import select

from monitor.db import session_factory
from monitor.importtokens import add_token
from monitor.models import ImportedFile, ImportToken
from tests.conftest import make_settings
from tests.import_helpers import A1, A2, AGREEMENTS, load, rows, snapshot

URL = "/api/v1/imports/calls"
CALLS = ("period_start,agreement_uuid,calls,errors\n"
         f"2020-11-27,{A1},120,3\n"
         f"2020-11-27T10:00:00+01:00,{A2},40,0\n")
BAD = ("period_start;agreement_uuid;calls\n"
       f"2020-11-27;{A1};-5\n"
       f"2020-11-27;{A2};12\n")


@pytest.fixture
def token(engine, now):  # type: ignore[no-untyped-def]
    """The token of the supplier "kmd", with the agreements of the import tests known."""
    load(engine, "agreements", AGREEMENTS, now)
    with session_factory(engine)() as session, session.begin():
        _, made = add_token(session, "kmd", now)
    return made


@pytest.fixture
def post(client, now):  # type: ignore[no-untyped-def]
    """POST a body as the API's client does, with the clock at `now`."""
    def send(body, token=None, **headers):  # type: ignore[no-untyped-def]
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        with time_machine.travel(now, tick=False):
            return client.post(URL, data=body, headers=headers, content_type="text/csv")
    return send


def test_a_file_posted_with_a_valid_token_is_imported_and_answered_with_its_report(post, token, engine):
    response = post(CALLS, token)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "imported" and body["rows"] == 2 and body["errors"] == []
    assert body["sha256"] == hashlib.sha256(CALLS.encode()).hexdigest()
    assert rows(engine, "SELECT calls, errors FROM daily_calls") == [(120, 3)]
    assert rows(engine, "SELECT calls FROM hourly_calls") == [(40,)]
    assert sorted(rows(engine, "SELECT calls FROM agreement_days")) == [(40,), (120,)]  # one row per agreement and day


def test_the_ledger_names_the_supplier_and_the_token_its_last_use(post, token, engine, now):
    post(CALLS, token)
    with session_factory(engine)() as session:
        ledger = session.scalars(select(ImportedFile).where(ImportedFile.kind == "calls")).one()
        used = session.scalars(select(ImportToken)).one()
        assert (ledger.supplier, ledger.status) == ("kmd", "imported")
        assert used.last_used_at == now


def test_the_same_file_posted_twice_is_already_imported_and_changes_nothing(post, token, engine):
    assert post(CALLS, token).get_json()["status"] == "imported"
    before = snapshot(engine)
    again = post(CALLS, token)
    assert again.status_code == 200 and again.get_json()["status"] == "already_imported"
    assert snapshot(engine) == before


def test_a_file_already_imported_from_the_inbox_is_already_imported_over_http(post, token, engine, now):
    load(engine, "calls", CALLS, now, name="calls-20201127.csv")
    assert post(CALLS, token).get_json()["status"] == "already_imported"


def test_a_bad_file_is_rejected_whole_with_each_bad_line_named(post, token, engine):
    before = snapshot(engine)
    response = post(BAD, token)
    assert response.status_code == 422
    body = response.get_json()
    assert body["status"] == "rejected"
    assert body["errors"] == [{"line": 2, "column": "calls", "value": "-5",
                               "reason": body["errors"][0]["reason"]}]
    assert "negative" in body["errors"][0]["reason"]
    assert snapshot(engine) == before
    with session_factory(engine)() as session:
        ledger = session.scalars(select(ImportedFile).where(ImportedFile.kind == "calls")).one()
        assert (ledger.status, ledger.supplier) == ("rejected", "kmd")


@pytest.mark.parametrize("body", [b"", b"\xff\xfe\x00garbage\x00" * 50, b"period_start,agreement_uuid\n",
                                  b'{"period_start": [' * 2000])
def test_an_empty_or_unreadable_body_is_rejected_never_a_server_error(post, token, body):
    response = post(body, token)
    assert response.status_code == 422
    report = response.get_json()
    assert report["status"] == "rejected" and report["errors"] and report["errors"][0]["reason"]


@pytest.mark.parametrize("value, message", [(1023, "must be between 1024"), (2 * 1024 ** 3, "must be between 1024"),
                                            ("64MB", "expected an integer")])
def test_a_max_file_bytes_out_of_range_is_refused_naming_the_key(value, message):
    from monitor.settings import ConfigError, from_mapping

    with pytest.raises(ConfigError) as info:
        from_mapping({"collectors": {"calls": {"max_file_bytes": value}}}, ".", environ={})
    assert "collectors.calls.max_file_bytes" in str(info.value) and message in str(info.value)


def test_json_lines_are_taken_as_the_inbox_takes_them(post, token, engine):
    body = f'{{"period_start": "2020-11-26", "agreement_uuid": "{A1}", "calls": 7}}\n'
    response = post(body, token)
    assert response.get_json()["status"] == "imported"
    assert rows(engine, "SELECT calls FROM daily_calls") == [(7,)]


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer nope", "Basic a21kOnNlY3JldA==",
                                           "Bearer " + "x" * 5000])
def test_without_a_valid_token_the_answer_is_401_and_nothing_is_read(client, token, engine, authorization):
    before = snapshot(engine)
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.post(URL, data=CALLS, headers=headers, content_type="text/csv")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "error" in response.get_json()
    assert snapshot(engine) == before


class Unreadable(io.RawIOBase):
    """A request body that fails the test when anything reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        raise AssertionError("the body was read")


def test_a_request_without_a_token_is_refused_without_reading_the_body(client, token):
    response = client.post(URL, content_type="text/csv", headers={"Authorization": "Bearer wrong"},
                           environ_overrides={"wsgi.input": Unreadable(), "CONTENT_LENGTH": "5000"})
    assert response.status_code == 401


def test_a_declared_length_over_max_file_bytes_is_refused_without_reading_the_body(client, token):
    response = client.post(URL, content_type="text/csv", headers={"Authorization": f"Bearer {token}"},
                           environ_overrides={"wsgi.input": Unreadable(), "CONTENT_LENGTH": str(65 * 1024 ** 2)})
    assert response.status_code == 413
    assert response.headers["Connection"] == "close"


def test_a_removed_token_is_refused(post, token, engine):
    with session_factory(engine)() as session, session.begin():
        session.delete(session.scalars(select(ImportToken)).one())
    assert post(CALLS, token).status_code == 401


def test_a_body_over_max_file_bytes_is_refused_with_413_before_it_is_read(tmp_path, db_url, now):
    from monitor import create_app

    settings = make_settings(tmp_path, db_url, collectors={"calls": {"inbox": str(tmp_path / "in"),
                                                                      "max_file_bytes": 2048}})
    app = create_app(settings)
    app.config.update(TESTING=True)
    try:
        with session_factory(app.extensions["monitor"].engine)() as session, session.begin():
            _, made = add_token(session, "kmd", now)
        client = app.test_client()
        big = CALLS + f"2020-11-26,{A1},1,0\n" * 100
        response = client.post(URL, data=big, headers={"Authorization": f"Bearer {made}"},
                               content_type="text/csv")
        assert response.status_code == 413
        assert "2,048" in response.get_json()["error"]
        # A file within the bound on the same route is taken: the bound is the route's, not [web]'s.
        small = client.post(URL, data=CALLS.replace("120", "121"), headers={"Authorization": f"Bearer {made}"},
                            content_type="text/csv")
        assert small.status_code == 200
    finally:
        app.extensions["monitor"].engine.dispose()


def test_the_route_accepts_bodies_larger_than_the_forms_bound(post, token, app):
    from monitor.web.guard import largest_body_bytes

    settings = app.extensions["monitor"].settings
    assert largest_body_bytes(app, settings.web.max_body_bytes) == settings.collectors.calls.max_file_bytes
    days = [dt.date(2019, 1, 1) + dt.timedelta(days=n) for n in range(690)]
    many = "period_start,agreement_uuid,calls\n" + "".join(
        f"{day},{agreement},{day.day}\n" for day in days for agreement in (A1, A2))
    assert len(many.encode()) > settings.web.max_body_bytes
    response = post(many, token)
    assert response.status_code == 200 and response.get_json()["rows"] == 2 * 690

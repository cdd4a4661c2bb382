"""Nothing personal or internal in public: every route but an explicit few needs an operator,
and what the public routes show carries no address, server path or stack text."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.models import (
    CollectorRun,
    Delivery,
    ImportedFile,
    Notice,
    NoticeSource,
    NoticeUpdate,
    Subscriber,
)
from monitor.privacy import mask_address, mask_addresses, summarise_error
from tests.auth_helpers import csrf, sign_in

# Routes anyone may use. A new route is the operator's until it is added here on purpose.
PUBLIC = {
    "api.openapi", "api_availability.component_availability", "api_cutover.cutover", "api_notices.components", "api_notices.notices",
    "api_ratings.municipality", "api_ratings.ratings",
    "auth.link_page", "auth.link_post", "auth.login_form", "auth.login_post", "auth.logout",
    "feeds.notices_atom", "health.healthz", "health.readyz", "metrics.scrape",
    "pages.accessibility", "pages.calendar", "pages.component", "pages.cutover", "pages.driftsstatus", "pages.method",
    "pages.municipality", "pages.municipality_agreements_csv", "pages.what_if_view", "api_ratings.method",
    "pages.overview", "pages.overview_csv", "static",
    # "Dit input?": the form, and its confirmation under the input's own secret key.
    "method_input.input_form", "method_input.input_post", "method_input.confirm_page", "method_input.confirm_post",
    # A subscriber's own pages: authenticated by the signed link in their mail, not by sign-in.
    "subscribe.delete_me", "subscribe.my_data", "subscribe.invitation_page", "subscribe.invitation_post",
    "subscribe.invitation_decline", "subscribe.invitation_decline_page",
    "subscribe.confirm_page", "subscribe.confirm_post", "subscribe.manage_page", "subscribe.manage_post",
    "subscribe.subscribe_form", "subscribe.subscribe_post", "subscribe.unsubscribe_page",
    "subscribe.unsubscribe_post",
    # A municipality mailbox's one-click stop link: authenticated by its signed link.
    "mailbox.stop_page", "mailbox.stop_post",
    # Alertmanager's webhook: authenticated by its bearer token ([alerts] receiver_token).
    "api_alerts.alertmanager",
    # A supplier's call-count file: authenticated by its bearer token (`monitor tokens`), not by sign-in.
    "api_imports.import_calls",
}
SAMPLE_ARGUMENTS = {"code": "101", "token": "x", "filename": "monitor.css", "slug": "serviceplatformen"}
ADDRESS = "reject-1@example.dk"
SERVER_PATH = "/srv/monitor/var/inbox/kald-2020-11-28.csv"
TRACEBACK = 'Traceback (most recent call last):\n  File "/srv/monitor/monitor/collectors/notices/poll.py", line 88'


def routes(app: Flask, endpoints: set[str] | None = None) -> list[tuple[str, str, str]]:
    """(endpoint, method, URL) for every rule of the URL map, with sample arguments filled in."""
    out = []
    for rule in app.url_map.iter_rules():
        if endpoints is not None and rule.endpoint not in endpoints:
            continue
        url = rule.build({a: SAMPLE_ARGUMENTS.get(a, "1") for a in rule.arguments}, append_unknown=False)[1]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, url))
    return out


def operator_routes(app: Flask) -> list[tuple[str, str, str]]:
    return [r for r in routes(app) if r[0] not in PUBLIC]


def call(client: FlaskClient, method: str, url: str) -> Any:
    if method == "GET":
        return client.get(url)
    return client.open(url, method=method, data={"csrf_token": csrf(client)})


def test_the_public_allow_list_names_only_routes_that_exist(app: Flask) -> None:
    assert {rule.endpoint for rule in app.url_map.iter_rules()} >= PUBLIC
    assert operator_routes(app), "at least /drift is the operator's"


def test_every_route_outside_the_allow_list_refuses_a_signed_out_visitor(app: Flask, client: FlaskClient) -> None:
    for endpoint, method, url in operator_routes(app):
        response = call(client, method, url)
        if url.startswith("/api/"):
            assert response.status_code == 401, (endpoint, url)
            assert response.is_json and response.get_json()["error"] == "sign-in required"
        else:
            assert response.status_code == 303 and response.location == "/login", (endpoint, url,
                                                                                   response.status_code)


def test_every_route_outside_the_allow_list_serves_a_signed_in_operator(app: Flask, client: FlaskClient) -> None:
    sign_in(client)
    for endpoint, method, url in operator_routes(app):
        response = call(client, method, url)
        assert response.status_code not in (303, 401, 403), (endpoint, url, response.status_code)
        assert response.status_code < 500, (endpoint, url)


def test_a_signed_out_visitor_is_sent_back_to_the_page_after_signing_in(app: Flask, client: FlaskClient) -> None:
    assert client.get("/drift?lang=en").location == "/login"
    from tests.auth_helpers import add_operator, link_for

    add_operator(app)
    path = link_for(app)
    assert client.post(path, data={"csrf_token": csrf(client, path)}).location == "/drift?lang=en"


def seed_personal_data(session: Session, now: dt.datetime) -> None:
    """What the issue found on a public page: a refused address, a server path, a stack."""
    source = NoticeSource(name="driftstatus", url=f"file://{SERVER_PATH}", kind="feed", consecutive_failures=3,
                          last_failure_at=now, last_error=TRACEBACK + "\nOSError: [Errno 2] " + SERVER_PATH)
    session.add(source)
    session.flush()
    notice = Notice(source_id=source.id, upstream_id="n1", kind="incident", title="Nedbrud", status="investigating",
                    started_at=now, updated_at=now)
    session.add(notice)
    session.flush()
    update = NoticeUpdate(notice_id=notice.id, status="investigating", at=now, body_html="<p>Vi undersøger.</p>")
    subscriber = Subscriber(channel="email", address=ADDRESS, confirmed_at=now)
    session.add_all([update, subscriber])
    session.flush()
    session.add(Delivery(update_id=update.id, subscriber_id=subscriber.id, channel="email", status="failed",
                         attempts=1, last_error=f"PermanentError: recipient refused: {{'{ADDRESS}': (550, b'5.1.1')}}"))
    session.add(CollectorRun(collector="calls", started_at=now, finished_at=now, outcome="failure",
                             message=TRACEBACK + f"\nValueError: cannot read {SERVER_PATH}"))
    session.add(ImportedFile(name="kald.csv", kind="calls", sha256="0" * 64, status="rejected", rows=1,
                             report=f"line 2, column email: {ADDRESS} is not a count (file {SERVER_PATH})",
                             imported_at=now))
    session.commit()


def test_public_routes_show_no_address_path_or_stack_text(app: Flask, client: FlaskClient, session: Session,
                                                          now: dt.datetime) -> None:
    app.config["MONITOR_CLOCK"] = lambda: now
    seed_personal_data(session, now)
    checked = 0
    for endpoint, method, url in routes(app, PUBLIC):
        if method != "GET" or endpoint == "static":
            continue
        for lang in ("da", "en"):
            text = client.get(url, query_string={"lang": lang}).get_data(as_text=True)
            for secret in (ADDRESS, "/srv/monitor", "Traceback", "notices.py", "Errno"):
                assert secret not in text, (url, secret)
            checked += 1
    assert checked >= 20


def test_the_operator_page_masks_addresses_and_summarises_errors(app: Flask, client: FlaskClient,
                                                                  session: Session, now: dt.datetime) -> None:
    app.config["MONITOR_CLOCK"] = lambda: now
    seed_personal_data(session, now)
    page = sign_in(client).get("/drift").get_data(as_text=True)
    assert ADDRESS not in page and "r…1@example.dk" in page
    assert "Traceback" not in page and "line 88" not in page
    # Errors name the file, not where it lies; the configured source URL itself is the operator's to see.
    assert "cannot read …/kald-2020-11-28.csv" in page and "[Errno 2] …/kald-2020-11-28.csv" in page
    assert page.count("/srv/monitor") == 1 and f"file://{SERVER_PATH}" in page
    assert "recipient refused" in page


@pytest.mark.parametrize("address, masked", [
    ("reject-1@example.dk", "r…1@example.dk"), ("ab@example.dk", "a…@example.dk"),
    ("a@example.dk", "a…@example.dk"), ("Drift.Ansvarlig@kommune.dk", "D…g@kommune.dk"),
])
def test_an_address_is_masked_to_its_first_and_last_letter(address: str, masked: str) -> None:
    assert mask_address(address) == masked


@given(st.emails())
def test_a_masked_address_never_holds_more_than_two_letters_of_the_local_part(address: str) -> None:
    local, _, domain = address.rpartition("@")
    masked = mask_address(address)
    assert masked.endswith("@" + domain)
    assert len(masked.rpartition("@")[0].replace("…", "")) <= 2
    if len(local) > 2 and re.fullmatch(r"[\w.%+\-!#$&*/=?^~]+", local):  # the characters found in running text
        text = mask_addresses(f"error for {address}: refused")
        assert local not in text and mask_addresses(text) == text


@given(st.text(max_size=2000))
def test_a_summarised_error_is_one_bounded_line_whatever_the_text(text: str) -> None:
    summary = summarise_error(text)
    assert "\n" not in summary and "\r" not in summary and len(summary) <= 300


def test_a_traceback_is_summarised_by_its_last_line_without_paths() -> None:
    text = TRACEBACK + "\n    raise OSError\nOSError: [Errno 28] No space left on device: '/srv/monitor/var/x.eml'"
    assert summarise_error(text) == "OSError: [Errno 28] No space left on device: '…/x.eml'"


def test_an_operator_looks_a_subscriber_up_with_the_full_address_and_the_look_up_is_audited(
        app: Flask, client: FlaskClient, session: Session, now: dt.datetime) -> None:
    from monitor.models import AuditEvent

    app.config["MONITOR_CLOCK"] = lambda: now
    seed_personal_data(session, now)
    sign_in(client)
    found = client.post("/drift/abonnent", data={"email": ADDRESS.upper(), "csrf_token": csrf(client, "/drift")})
    text = found.get_data(as_text=True)
    assert found.status_code == 200 and ADDRESS in text and "failed: 1" in text
    assert client.post("/drift/abonnent", data={"email": "nobody@example.dk", "csrf_token": csrf(client, "/drift")}
                       ).status_code == 200
    assert client.post("/drift/abonnent", data={"email": "no address", "csrf_token": csrf(client, "/drift")}
                       ).status_code == 400
    session.expire_all()
    lookups = session.scalars(select(AuditEvent).where(AuditEvent.action == "subscriber.lookup")
                              .order_by(AuditEvent.id)).all()
    assert [e.detail for e in lookups] == ["r…1@example.dk", "n…y@example.dk"]
    assert all(e.actor == "drift@example.dk" for e in lookups)


@pytest.mark.parametrize("path", ["/login", "/subscribe", "/manage/not-a-token", "/postkasse/stop/not-a-token",
                                  "/metode/input/not-a-key"])
def test_pages_under_signed_links_are_never_cached_and_never_leak_the_link(client, path):
    response = client.get(path)
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"

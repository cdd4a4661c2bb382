"""Headless Chromium signs an operator in from the mailed link, end to end, and out again.
Screenshots are kept in tests/artifacts/ for a person to look at."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor import create_app
from monitor.settings import Settings
from tests.auth_helpers import add_operator
from tests.browser_helpers import ARTIFACTS, launched, watched_page
from tests.conftest import make_settings
from tests.serving import serving_late
from tests.waiting import wait_until

pytestmark = pytest.mark.browser
OPERATOR = "drift@demo.invalid"
MAIL_PATIENCE_SECONDS = 60  # waiting for the mail file to appear; not a speed claim


@pytest.fixture
def served(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[str, Settings]]:
    with serving_late() as (port, install):
        base = f"http://127.0.0.1:{port}"
        settings = make_settings(tmp_path, sqlite_url, web={"base_url": base})
        app = create_app(settings)
        add_operator(app, OPERATOR)
        install(app)
        yield base, settings
    app.extensions["monitor"].engine.dispose()


@pytest.fixture
def page(served):  # type: ignore[no-untyped-def]
    with launched() as browser:
        yield watched_page(browser)


def deliver_queued_mail(settings: Settings) -> None:
    """Run the mail queue once, as the scheduler would."""
    from monitor.db import engine_for
    from monitor.notify.outbox import deliver_due

    engine = engine_for(settings)
    try:
        assert deliver_due(engine, settings).sent == 1
    finally:
        engine.dispose()


def wait_for_link(outbox: Path) -> str:
    """The sign-in link of the first mail in `outbox`, waiting for the file with a deadline."""
    mails = wait_until(lambda: sorted(outbox.glob("*.eml")), "the sign-in mail", patience=MAIL_PATIENCE_SECONDS)
    assert isinstance(mails, list)
    msg = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default)
    assert msg["To"].addresses[0].addr_spec == OPERATOR
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(r"(https?://\S+/login/\S+)", text)
    assert found, text
    return found.group(1)


def test_an_operator_signs_in_with_chromium_from_the_mailed_link(served, page) -> None:  # type: ignore[no-untyped-def]
    base, settings = served
    page.goto(base + "/drift")
    assert page.url == base + "/login"
    page.fill("#email", OPERATOR)
    page.screenshot(path=str(ARTIFACTS / "login.png"), full_page=True)
    page.click("form button[type=submit]")
    assert page.locator("h1").inner_text() == "Tjek din indbakke"

    deliver_queued_mail(settings)  # what the scheduler does every ~30 s
    link = wait_for_link(settings.path(settings.mail.outbox_dir))
    page.goto(link)
    assert "d…t@demo.invalid" in page.locator("main").inner_text()
    page.screenshot(path=str(ARTIFACTS / "login-link.png"), full_page=True)
    page.click("main form button[type=submit]")
    page.wait_for_url(base + "/drift")
    assert page.locator("h1").inner_text() == "Drift af tjenesten"
    assert "loggede ind" in page.locator("#revision ~ .table-wrap").inner_text()
    cookie = next(c for c in page.context.cookies() if c["name"] == "session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.screenshot(path=str(ARTIFACTS / "drift-signed-in.png"), full_page=True)

    page.click("form.signout button")
    page.wait_for_url(re.compile(r".*/login\?signed_out=1$"))
    assert "Du er logget ud." in page.locator("main").inner_text()
    page.goto(base + "/drift")
    assert page.url == base + "/login"

    assert page.errors == []  # type: ignore[attr-defined]  # the CSP let every page work

    page.goto(link)
    assert page.locator("h1").inner_text() == "Linket er allerede brugt"
    page.screenshot(path=str(ARTIFACTS / "login-link-used.png"), full_page=True)
    assert page.errors == ["Failed to load resource: the server responded with a status of 410 (GONE)"]  # type: ignore[attr-defined]

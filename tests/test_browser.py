"""A real browser (headless Chromium) on the demo: the overview sorts and filters, a
municipality page opens, the language switches — with the CSP on and no console errors.
Screenshots are kept in tests/artifacts/ for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor import create_app
from monitor.db import make_engine
from monitor.web.pages.overview import danish_key
from tests.browser_helpers import ARTIFACTS, launched, watched_page
from tests.pages_helpers import demo_settings, load_demo_world
from tests.serving import serving

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path, sqlite_url) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings = demo_settings(tmp_path, sqlite_url)
    engine = make_engine(settings.database.url)
    load_demo_world(engine, settings)
    engine.dispose()
    app = create_app(settings)
    with serving(app) as port:
        yield f"http://127.0.0.1:{port}"
    app.extensions["monitor"].engine.dispose()


@pytest.fixture
def page(server):  # type: ignore[no-untyped-def]
    with launched() as browser:
        yield watched_page(browser)


def _codes(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.eval_on_selector_all("#ratings tbody tr[data-code]:not([hidden])", "rows => rows.map(r => r.dataset.code)")


def test_a_lead_sorts_searches_opens_a_municipality_and_switches_language(server, page):
    page.goto(server + "/")
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)
    assert len(_codes(page)) == 98

    page.click("#ratings th[data-sort='name'] a")  # sorted by the script, no reload
    names = page.eval_on_selector_all("#ratings tbody tr[data-code]", "rows => rows.map(r => r.dataset.name)")
    assert names[0] == "Albertslund" and names[-1] == "Aarhus"  # Danish order: aa after z
    assert page.get_attribute("#ratings th[data-sort='name']", "aria-sort") == "ascending"
    assert "sort=name" in page.url

    page.fill("#q", "aarhus")
    assert _codes(page) == ["751"]
    page.screenshot(path=str(ARTIFACTS / "overview-search.png"))
    page.click("#ratings a[href='/kommune/751']")
    page.wait_for_load_state()
    assert page.url.endswith("/kommune/751")
    assert page.locator("h1").inner_text().startswith("Aarhus")
    page.screenshot(path=str(ARTIFACTS / "municipality.png"), full_page=True)

    page.click("text=English")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("text=The three parts of the score").count() == 1
    page.goto(server + "/driftsstatus")  # the cookie keeps the choice
    assert page.locator("html").get_attribute("lang") == "en"
    page.screenshot(path=str(ARTIFACTS / "driftsstatus-en.png"), full_page=True)
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_overview_sorts_without_javascript(server, tmp_path):  # type: ignore[no-untyped-def]
    with launched() as browser:
        context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
        pg = context.new_page()
        pg.goto(server + "/")
        # On a phone the code column is hidden (the name, the score and the change stay): sort by name.
        assert not pg.is_visible("#ratings th[data-sort='code']")
        pg.click("#ratings th[data-sort='name'] a")
        pg.wait_for_load_state()
        assert "sort=name" in pg.url
        names = pg.eval_on_selector_all("#ratings tbody tr[data-code]:not([hidden]) th", "cells => cells.map(c => c.textContent.trim())")
        assert len(names) == 98 and names == sorted(names, key=danish_key)
        pg.fill("#q", "Køge")
        pg.click("form.search button")
        pg.wait_for_load_state()
        assert _codes(pg) == ["259"]
        pg.goto(server + "/skift")
        pg.screenshot(path=str(ARTIFACTS / "cutover-narrow-nojs.png"), full_page=True)
        browser.close()


def test_the_what_if_view_recomputes_live_when_a_weight_changes(server, page):
    page.goto(server + "/metode/hvad-hvis")
    assert "Kendalls tau" not in page.inner_text("#what-if-result")
    page.fill("#f-service_agreements", "0.5")
    page.fill("#f-it_systems_with_calls", "0.3")
    page.dispatch_event("#f-it_systems_with_calls", "change")  # as leaving the field does
    page.wait_for_selector("#what-if-result table")
    assert "Kendalls tau mellem dagens placeringer og disse" in page.inner_text("#what-if-result")
    assert "service_agreements=0.5" in page.url  # the address can be shared or reloaded
    page.fill("#f-window_days", "900")
    page.dispatch_event("#f-window_days", "change")
    page.wait_for_selector("#what-if-result [role=alert]")
    assert "Periode (dage): skal ligge mellem 1 og 90." in page.inner_text("#what-if-result")

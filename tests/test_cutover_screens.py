"""/skift on the full demo in a real browser, at each moment of the weekend a lead looks at it:
before the window, in it, pending, the morning after, and the night after (small
municipalities have too little traffic to judge then, so "Ikke bedømt" shows).

Each phase is screenshotted at 1366 and 390 px into tests/artifacts/skift-<phase>-<width>.png
(full page) for CI to keep and a person to look at; the page heights go to
tests/artifacts/skift-heights.txt, which the run prints at its end (tests/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor import create_app
from monitor.db import make_engine
from monitor.demo import load_demo
from tests.browser_helpers import ARTIFACTS, launched, watched_page
from tests.conftest import make_settings
from tests.serving import serving

pytestmark = pytest.mark.browser
CET = dt.timezone(dt.timedelta(hours=1))
# The demo's window ends four whole hours before it is loaded and lasts 34 hours.
LOADED = {"night": dt.datetime(2026, 11, 30, 3, 30, tzinfo=CET),  # window 28.11 13:00 – 29.11 23:00
          "day": dt.datetime(2026, 11, 30, 10, 30, tzinfo=CET)}   # window 28.11 20:00 – 30.11 06:00
PHASES = {  # demo, the page's clock, and the heading's words
    "before": ("night", dt.datetime(2026, 11, 28, 10, 30, tzinfo=CET), "skiftet er ikke begyndt"),
    "in_window": ("night", dt.datetime(2026, 11, 29, 12, 30, tzinfo=CET), "skiftet er i gang"),
    "pending": ("night", dt.datetime(2026, 11, 29, 23, 30, tzinfo=CET), "venter på data efter skiftet"),
    "after": ("day", LOADED["day"], "er kaldene kommet tilbage?"),
    "night_after": ("night", LOADED["night"], "er kaldene kommet tilbage?"),
}
PHONE_HEIGHT = 844
WIDTHS = (1366, 390)
HEIGHTS = ARTIFACTS / "skift-heights.txt"


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[dict[str, Any]]:
    """The full demo loaded twice: in the night after a Sunday-evening window, and the morning after another."""
    apps = {}
    for name, loaded in LOADED.items():
        tmp = tmp_path_factory.mktemp(f"skift-{name}")
        shutil.copy(sqlite_template, tmp / "monitor.db")
        settings = make_settings(tmp, f"sqlite:///{tmp / 'monitor.db'}")
        engine = make_engine(settings.database.url)
        load_demo(engine, settings, seed=1, size="full", now=loaded)
        engine.dispose()
        app = create_app(settings)
        app.config.update(TESTING=True, MONITOR_CLOCK=lambda loaded=loaded: loaded)
        apps[name] = app
    yield apps
    for app in apps.values():
        app.extensions["monitor"].engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched() as b:
        yield b


def at_phase(demos: dict[str, Any], phase: str) -> Any:
    name, clock, _ = PHASES[phase]
    app = demos[name]
    app.config["MONITOR_CLOCK"] = lambda: clock
    return app


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


OVERFLOWING_BADGES = """() => [...document.querySelectorAll('.card .badge')].filter(b => {
    const card = b.closest('.card').getBoundingClientRect(), r = b.getBoundingClientRect();
    return r.right > card.right + 0.5 || r.left < card.left - 0.5; }).map(b => b.textContent)"""
TOP_OF = "id => document.getElementById(id).getBoundingClientRect().top + window.scrollY"
CAPTIONS_NARROWER_THAN_THEIR_TABLE = """() => [...document.querySelectorAll('table.stack')].filter(t =>
    t.offsetParent !== null && t.caption && t.caption.getBoundingClientRect().width + 1 < t.getBoundingClientRect().width
    ).map(t => t.caption.textContent)"""


@pytest.mark.parametrize("phase", list(PHASES))
def test_each_phase_is_screenshotted_at_1366_and_390_px_and_reads_as_its_phase(demos, browser, phase,
                                                                             record_property):
    app = at_phase(demos, phase)
    heights = []
    with serving(app) as port:
        for width in WIDTHS:
            page = watched_page(browser, width, PHONE_HEIGHT)
            page.goto(f"http://127.0.0.1:{port}/skift")
            assert PHASES[phase][2] in page.inner_text("h1")
            assert page.evaluate(OVERFLOWING_BADGES) == []
            assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing wider than the screen
            assert page.evaluate(CAPTIONS_NARROWER_THAN_THEIR_TABLE) == []
            height = page.evaluate("document.documentElement.scrollHeight")
            heights.append(f"skift-{phase}-{width}: {height} px")
            if width == 390:  # a lead on a phone reaches the per-service summary within four screens
                assert page.evaluate(TOP_OF, "platform-h") < 4 * PHONE_HEIGHT, heights
            page.screenshot(path=str(ARTIFACTS / f"skift-{phase}-{width}.png"), full_page=True)
            assert page.errors == []
            page.close()
    with HEIGHTS.open("a", encoding="utf-8") as fh:
        fh.writelines(line + "\n" for line in heights)
    record_property("page_heights", "; ".join(heights))
    assert (ARTIFACTS / f"skift-{phase}-1366.png").stat().st_size > 10_000


def test_in_the_night_after_small_municipalities_are_not_judged_and_none_of_them_is_green(demos):
    html = at_phase(demos, "night_after").test_client().get("/skift").get_data(as_text=True)
    rows = re.findall(r'<tr id="kommune-\d{3}"[^>]*>(.*?)</tr>', html, re.S)
    not_judged = [text_of(r) for r in rows if "Ikke bedømt: for lidt trafik" in r]
    assert not_judged, "a night hour after the window has municipalities with too little traffic"
    assert all("ikke bedømt: normalt kun" in r for r in not_judged)
    assert not [text_of(r) for r in rows if "Grøn: tilbage som før" in r and "ikke bedømt" in r]
    assert re.search(r'<div class="card"><h3><span class="badge not_judged">', html)


def test_during_the_window_the_move_is_said_once_and_no_call_count_is_taken_from_before_it(demos):
    html = at_phase(demos, "in_window").test_client().get("/skift").get_data(as_text=True)
    text = text_of(html)
    assert text.count("Skiftet er i gang til") == 1
    assert "skiftet er i gang til" not in text  # the reason is not repeated on each row
    assert "Kald nu" not in text and "kald mod normalt" not in text


def test_the_search_filters_the_folded_municipalities_in_place_and_opens_their_group(demos, browser):
    with serving(at_phase(demos, "after")) as port:
        page = watched_page(browser, 390, PHONE_HEIGHT)
        page.goto(f"http://127.0.0.1:{port}/skift")
        page.fill("#skift-q", "dragør")
        visible = page.evaluate("""() => [...document.querySelectorAll('table[data-folded] tbody tr')]
            .filter(r => r.offsetParent !== null).map(r => r.dataset.name)""")
        assert visible == ["Dragør"]
        assert "1" in page.inner_text("#skift-count")
        page.fill("#skift-q", "")
        assert page.evaluate("[...document.querySelectorAll('details.fold[data-status]')].some(d => d.open)") is False
        assert page.errors == []
        page.close()


def test_a_chosen_municipality_is_shown_first_and_remembered(demos, browser):
    with serving(at_phase(demos, "after")) as port:
        page = watched_page(browser, 1366, PHONE_HEIGHT)
        page.goto(f"http://127.0.0.1:{port}/skift?kommune=0101")
        assert "København" in page.inner_text("#din-kommune .chosen")
        page.goto(f"http://127.0.0.1:{port}/skift")
        assert "København" in page.inner_text("#din-kommune .chosen")
        assert page.evaluate(TOP_OF, "din-kommune") < page.evaluate(TOP_OF, "others-h")
        page.close()

"""/skift, the cut-over console: every colour explained from the page alone, in every phase.

The browser tests save a screenshot of each phase (before, in the window, pending, after) in
tests/artifacts/ for CI to keep and a person to look at (docs/pages.md)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest

from monitor import create_app
from monitor.db import session_factory
from monitor.metrics import registry_for
from monitor.models import CutoverTask
from tests.browser_helpers import ARTIFACTS, launched
from tests.conftest import make_settings
from tests.cutover_helpers import add_agreement, add_hours, hours
from tests.serving import serving

UTC = dt.UTC
CET = dt.timezone(dt.timedelta(hours=1))
CUTOVER = {"start": dt.datetime(2020, 11, 28, 8, tzinfo=CET), "end": dt.datetime(2020, 11, 29, 18, tzinfo=CET),
           "frozen_zone_start": dt.datetime(2020, 11, 20, tzinfo=CET), "support_url": "https://www.kombit.dk/"}
START, END = dt.datetime(2020, 11, 28, 7, tzinfo=UTC), dt.datetime(2020, 11, 29, 17, tzinfo=UTC)
PHASES = {  # the app's clock in each phase, and a status every municipality with traffic then has
    "before": (dt.datetime(2020, 11, 27, 12, 30, tzinfo=UTC), None),
    "in_window": (dt.datetime(2020, 11, 28, 12, 30, tzinfo=UTC), "in_window"),
    "pending": (dt.datetime(2020, 11, 29, 17, 40, tzinfo=UTC), "pending"),
    "after": (dt.datetime(2020, 11, 29, 21, 30, tzinfo=UTC), None),
}
# Per municipality: calls an hour normally, and after the window (0 during it).
WORLD = {"101": (400, 396), "147": (120, 118), "157": (300, 0), "461": (73, 58), "751": (1578 // 6, 937 // 6)}


@pytest.fixture
def world(tmp_path, sqlite_url):  # type: ignore[no-untyped-def]
    """A small country around the 2020 weekend: hourly calls from 14 days before to 4 hours after."""
    settings = make_settings(tmp_path, sqlite_url, cutover=CUTOVER)
    app = create_app(settings)
    app.config.update(TESTING=True, MONITOR_CLOCK=lambda: PHASES["after"][0])
    engine = app.extensions["monitor"].engine
    span = hours(dt.datetime(2020, 11, 15, 0, tzinfo=UTC), 14 * 24 + 21)
    with session_factory(engine)() as s:
        for code, (normal, back) in WORLD.items():
            a = add_agreement(s, f"a{code}", code, supplier="KMD" if code != "157" else "Netcompany")
            add_hours(s, a, [h for h in span if h < START], normal)
            add_hours(s, a, [h for h in span if START <= h < END], 0)
            add_hours(s, a, [h for h in span if h >= END], back)
        silent = add_agreement(s, "a147-silent", "147", supplier="Netcompany", services=("SF1500",))
        add_hours(s, silent, [h for h in span if h < START], 20)
        add_hours(s, silent, [h for h in span if h >= START], 0)
        add_agreement(s, "a101-new", "101", services=("SF1601",), first_seen_at=dt.datetime(2020, 11, 25, tzinfo=UTC))
        s.add_all([CutoverTask(municipality_code="101", task="Nye certifikater installeret", done=False,
                               deadline=dt.date(2020, 11, 27)),
                   CutoverTask(municipality_code="101", task="Test af SF1520", done=True)])
        s.commit()
    yield app
    engine.dispose()


def page_at(app, phase: str, lang: str = "da") -> str:  # type: ignore[no-untyped-def]
    app.config["MONITOR_CLOCK"] = lambda: PHASES[phase][0]
    response = app.test_client().get(f"/skift?lang={lang}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def row(html: str, code: str) -> str:
    found = re.search(rf'<tr id="kommune-{code}">(.*?)</tr>', html, re.S)
    assert found, code
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1)))


def test_each_row_says_in_words_why_it_has_its_colour(world):
    html = page_at(world, "after")
    assert "Rød: kald mangler" in row(html, "157") and "ingen kald (normalt 1.200)" in row(html, "157")
    assert "kald 79 % af normalt: under 80 %, men inden for det tilfældige udsving" in row(html, "461")
    assert "Grøn: tilbage som før" in row(html, "461")
    assert "kald 59 % af normalt (signifikant under 80 %)" in row(html, "751")
    assert "1 tavs aftale" in row(html, "147") and "Gul: delvist tilbage" in row(html, "147")


def test_the_english_page_gives_the_same_reasons_in_english(world):
    html = page_at(world, "after", "en")
    assert "calls 59% of normal (significantly below 80%)" in row(html, "751")
    assert "no calls (normally 1,200)" in row(html, "157")


def test_the_legend_gives_the_thresholds_from_config(world):
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page_at(world, "after")))
    assert "Ingen kald, kald signifikant under 50 % af normalt, eller en fejlandel over 20 %." in text
    assert "en fejlandel over 5 %, eller en tavs aftale: en aftale med mindst 10 kald normalt" in text
    assert "sjældnere end 1 % af gangene" in text


def test_the_lead_states_the_hours_actually_observed(world):
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page_at(world, "after")))
    # The window ended 18:00 CET; data to 22:00 CET with the clock at 22:30: four hours, not six.
    assert ("Kald i 4 hele timer, 29.11.2020 kl. 18:00 CET til 29.11.2020 kl. 22:00 CET, sammenlignes med de "
            "samme klokkeslæt 7 dage før.") in text
    assert "Der ses højst på de seneste 6 timer." in text


def test_the_platform_services_and_suppliers_are_on_the_page_with_their_reasons(world):
    html = page_at(world, "after")
    platform = html[html.index('id="platform-h"'):html.index('id="tavse"')]
    assert "SF1520" in platform and "SF1500" in platform and "Netcompany" in platform and "KMD" in platform
    # Services and suppliers now carry the silent share (reason silent_share), not a count of one;
    # its words come with the page's part of issue 23.
    assert "tavs" in platform or "silent_share" in platform


def test_tasks_are_listed_by_name_with_their_deadline_and_the_count_links_to_them(world):
    html = page_at(world, "after")
    assert 'href="#opgaver-101"' in row(html, "101") or '<a href="#opgaver-101"' in html
    tasks = html[html.index('id="opgaver-101"'):]
    assert "Åben:</strong> Nye certifikater installeret" in tasks and "frist 27.11.2020" in tasks
    assert "Løst:</strong> Test af SF1520" in tasks


def test_frozen_zone_changes_are_listed_per_municipality_and_counted_in_the_metrics(world):
    html = page_at(world, "after")
    changes = html[html.index('id="frysezone-101"'):]
    assert "System a101-new" in changes and "ny aftale" in changes
    metrics = generate_latest(registry_for(world.extensions["monitor"].sessions,
                                           world.extensions["monitor"].settings, lambda: PHASES["after"][0])).decode()
    assert re.search(r'^fki_cutover_frozen_zone_changes\{municipality="101"\} 1\.0$', metrics, re.M)
    assert re.search(r'^fki_cutover_frozen_zone_changes\{municipality="147"\} 0\.0$', metrics, re.M)


def test_the_support_link_and_the_calendar_link_are_on_the_page(world):
    html = page_at(world, "after")
    assert 'href="https://www.kombit.dk/"' in html and 'href="/kalender.ics"' in html


@pytest.mark.parametrize("phase", list(PHASES))
def test_no_page_of_any_phase_uses_a_glyph_missing_from_common_fonts(world, phase):
    html = page_at(world, phase)
    assert "⧗" not in html and "\u29d7" not in html
    expected = PHASES[phase][1]
    if expected:
        assert all(expected in row(html, code) or "Skiftet er i gang" in row(html, code) or "Afventer data" in
                   row(html, code) for code in WORLD)


# --- in a browser: screenshots of each phase, layout at 1280 and 390 px ----------------------

@pytest.fixture
def served(world) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with serving(world) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    with launched() as b:
        yield b


OVERFLOWING_BADGES = """() => [...document.querySelectorAll('.card .badge')].filter(b => {
    const card = b.closest('.card').getBoundingClientRect(), r = b.getBoundingClientRect();
    return r.right > card.right + 0.5 || r.left < card.left - 0.5; }).map(b => b.textContent)"""


@pytest.mark.parametrize("phase", list(PHASES))
def test_each_phase_is_screenshotted_and_no_badge_leaves_its_card(world, served, browser, phase):
    world.config["MONITOR_CLOCK"] = lambda: PHASES[phase][0]
    for width in (1280, 390):
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(f"{served}/skift")
        assert page.evaluate(OVERFLOWING_BADGES) == []
        # Nothing wider than a phone: the wide tables read as blocks at 390 px.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(ARTIFACTS / f"skift-{phase}-{width}.png"), full_page=width == 1280)
        page.close()
    assert (ARTIFACTS / f"skift-{phase}-1280.png").stat().st_size > 10_000

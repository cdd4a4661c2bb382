"""/skift, the cut-over console: every colour explained from the page alone, in every phase.

The screenshots of each phase, on the full demo in a real browser, are in test_cutover_screens.py."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from prometheus_client import generate_latest

from monitor import create_app
from monitor.db import session_factory
from monitor.metrics import registry_for
from monitor.models import CutoverTask
from monitor.web.pages import cutover_page
from monitor.web.pages.cutover import reason_text
from tests.conftest import make_settings
from tests.cutover_helpers import add_agreement, add_hours, hours

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
WORLD = {"101": (400, 396), "147": (120, 118), "157": (300, 0), "461": (73, 58), "751": (1578 // 6, 937 // 6),
         "825": (1, 1)}  # Læsø: 4 calls in four hours is too little traffic to judge


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
    found = re.search(rf'<tr id="kommune-{code}"[^>]*>(.*?)</tr>', html, re.S)
    assert found, code
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1)))


def test_each_row_says_in_words_why_it_has_its_colour(world):
    html = page_at(world, "after")
    assert "Rød: kald mangler" in row(html, "157") and "ingen kald (normalt 1.200)" in row(html, "157")
    assert "kald 79 % af normalt: under 80 %, men inden for det tilfældige udsving" in row(html, "461")
    assert "Grøn: tilbage som før" in row(html, "461")
    assert "kald 59 % af normalt: signifikant under 80 %, men ikke under 50 %" in row(html, "751")
    assert "1 tavs aftale" in row(html, "147") and "Gul: delvist tilbage" in row(html, "147")


def test_the_english_page_gives_the_same_reasons_in_english(world):
    html = page_at(world, "after", "en")
    assert "calls 59% of normal: significantly below 80%, but not below 50%" in row(html, "751")
    assert "no calls (normally 1,200)" in row(html, "157")


def test_the_legend_gives_the_thresholds_from_config(world):
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page_at(world, "after")))
    assert "Ingen kald, kald signifikant under 50 % af normalt, eller en fejlandel over 20 %." in text
    assert "en fejlandel over 5 %, eller en tavs aftale: en aftale med mindst 10 kald normalt" in text
    assert "sjældnere end 1 % af gangene" in text


def test_the_lead_states_the_hours_actually_observed(world):
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page_at(world, "after")))
    # The window ended 18:00 CET; data to 22:00 CET with the clock at 22:30: four hours, not six.
    # The world has two weeks of data before the window (of the four looked at): the page says two.
    assert ("Kald i 4 hele timer, 29.11.2020 kl. 18:00 CET til 29.11.2020 kl. 22:00 CET, sammenlignes med "
            "medianen af samme klokkeslæt i de 2 foregående uger.") in text
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
    assert "Udført:</strong> Test af SF1520" in tasks  # a task is done, a notice resolved
    assert "Done:</strong> Test af SF1520" in page_at(world, "after", "en")


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


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def heading(html: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", html, re.S)
    assert found
    return found.group(1)


# --- the words of each phase -------------------------------------------------------------

def test_before_the_window_the_page_says_when_it_starts_the_frozen_zone_and_the_tasks_still_open(world):
    html = page_at(world, "before")
    assert heading(html) == "Skift af driftscenter: skiftet er ikke begyndt"
    lead = text(html)
    assert "Skiftet begynder 28.11.2020 kl. 08:00 CET og slutter 29.11.2020 kl. 18:00 CET." in lead
    assert "Frysezonen begyndte 20.11.2020 kl. 00:00 CET" in lead
    assert "1 opgave er stadig åben i 1 kommune." in lead
    assert "kommet tilbage" not in lead and "tilbage som før" not in lead
    assert "Grøn: trafik som normalt" in row(html, "101")


def test_in_the_window_the_move_is_said_once_and_no_call_count_is_shown(world):
    html = page_at(world, "in_window")
    assert heading(html) == "Skift af driftscenter: skiftet er i gang"
    assert text(html).count("Skiftet er i gang til 29.11.2020 kl. 18:00 CET") == 1
    assert "skiftet er i gang til" not in text(html)  # not on each row
    assert "Kald nu" not in html and "kald mod normalt" not in text(html)


def test_pending_says_the_window_ended_and_which_hour_it_waits_for(world):
    html = page_at(world, "pending")
    assert heading(html) == "Skift af driftscenter: venter på data efter skiftet"
    assert ("Vinduet sluttede 29.11.2020 kl. 18:00 CET, venter på den første hele time efter det (29.11.2020 "
            "kl. 18:00 CET til 29.11.2020 kl. 19:00 CET).") in text(html)
    assert "Vinduet sluttede 29.11.2020 kl. 18:00 CET." in text(html[:html.index("<h1>")])  # the stamp agrees


def test_after_the_window_the_heading_asks_whether_the_calls_came_back(world):
    assert heading(page_at(world, "after")) == "Skift af driftscenter: er kaldene kommet tilbage?"


# --- not judged, the legend, both thresholds ---------------------------------------------

def test_a_municipality_with_too_little_traffic_is_not_judged_grey_and_never_green(world):
    html = page_at(world, "after")
    assert "Ikke bedømt: for lidt trafik" in row(html, "825") and "Grøn" not in row(html, "825")
    assert "ikke bedømt: normalt kun 4 kald (under 30)" in row(html, "825")
    assert '<div class="card"><h3><span class="badge not_judged">Ikke bedømt: for lidt trafik</span></h3><p class="value">1</p>' in html
    assert "Not judged: too little traffic" in row(page_at(world, "after", "en"), "825")


def test_the_legend_lists_every_state_with_its_rule(world):
    legend = text(page_at(world, "after").split('id="legend-h"')[1].split("</section>")[0])
    for word in ("Ukendt: ingen sammenligning", "Skiftet er i gang", "Afventer data", "Rød: kald mangler",
                 "Gul: delvist tilbage", "Ikke bedømt: for lidt trafik", "Grøn: tilbage som før"):
        assert word in legend
    assert "Normalt færre end 30 kald i timerne, så forholdet bedømmes ikke" in legend
    assert "Tælles aldrig som grøn." in legend


THRESHOLDS = {"green_ratio": 0.8, "red_ratio": 0.5}


@pytest.mark.parametrize(("reason", "lang", "words"), [
    ({"code": "calls_below_green", "call_ratio": 0.39, "threshold": 0.8, "below_green_significant": True,
      "below_red_significant": False, **THRESHOLDS}, "da",
     "kald 39 % af normalt: signifikant under 80 %, under 50 % men ikke signifikant"),
    ({"code": "calls_below_green", "call_ratio": 0.39, "threshold": 0.8, **THRESHOLDS}, "en",
     "calls 39% of normal: significantly below 80%, below 50% but not significantly"),
    ({"code": "calls_below_red", "call_ratio": 0.36, "threshold": 0.5, **THRESHOLDS}, "da",
     "kald 36 % af normalt: signifikant under både 80 % og 50 %"),
    ({"code": "calls_not_significant", "call_ratio": 0.45, "threshold": 0.5, **THRESHOLDS}, "da",
     "kald 45 % af normalt: under 80 % og 50 %, men inden for det tilfældige udsving"),
    ({"code": "silent_share", "effect": "yellow", "count": 3, "total": 40, "share": 0.075, "min_share": 0.05,
      "min_count": 3}, "da", "3 af 40 aftaler er tavse (7,5 %); gul fra 3 tavse aftaler og 5 %"),
    ({"code": "silent_share", "effect": "none", "count": 1, "total": 40, "share": 0.025, "min_share": 0.05,
      "min_count": 3}, "en", "1 of 40 agreements is silent (2.5%); yellow from 3 silent agreements and 5%"),
])
def test_a_reason_says_both_thresholds_in_danish_and_english(world, reason, lang, words):
    with world.test_request_context(f"/skift?lang={lang}"):
        assert reason_text(reason).replace("\xa0", " ") == words  # a percent sign keeps to its number


NOW = dt.datetime(2020, 11, 29, 21, 30, tzinfo=UTC)
WINDOW = {"start": START.isoformat(), "end": END.isoformat(), "frozen_zone_start": None, "pending": False}


def municipality(code: str, status: str, reasons: list[dict], observed: int | None = 10) -> dict:
    return {"code": code, "name": f"Kommune {code}", "status": status, "reasons": reasons, "observed_calls": observed,
            "baseline_calls": 20, "call_ratio": 0.5, "error_ratio": None, "silent_agreements": [],
            "frozen_zone_changes": [], "tasks_done": 0, "tasks_total": 0, "tasks": [], "acknowledgement": None}


def test_in_the_window_no_count_is_now_and_the_window_reason_is_not_repeated():
    doc = {"now": NOW.isoformat(), "phase": "in_window", "window": WINDOW, "national": {"status": "in_window",
           "reasons": [], "observed_calls": 5, "baseline_calls": 20, "call_ratio": 0.25, "error_ratio": None,
           "silent_agreements": 0, "status_counts": {}, "tasks_done": 0, "tasks_total": 0,
           "services": [], "suppliers": []},
           "municipalities": [municipality("101", "in_window", [{"code": "in_window", "effect": "none"}])]}
    page = cutover_page.build(doc, NOW)
    assert page.rows[0]["observed_calls"] is None and page.rows[0]["reasons"] == []
    assert page.doc["national"]["observed_calls"] is None and not page.show_calls


# --- a page a lead can scan ----------------------------------------------------------------

def test_red_and_yellow_come_first_and_green_and_not_judged_are_folded_away(world):
    html = page_at(world, "after")
    action = html[html.index('id="action-h"'):html.index('id="platform-h"')]
    assert 'id="kommune-157"' in action and 'id="kommune-147"' in action and 'id="kommune-751"' in action
    assert 'id="kommune-101"' not in action and 'id="kommune-825"' not in action
    folded = html[html.index('id="others-h"'):html.index('id="legend-h"')]
    assert re.search(r'<details class="fold" data-status="green">.*id="kommune-101"', folded, re.S)
    assert re.search(r'<details class="fold" data-status="not_judged">.*id="kommune-825"', folded, re.S)
    assert html.index('id="platform-h"') < html.index('id="din-h"') < html.index('id="others-h"')


def test_a_search_without_javascript_shows_the_matching_folded_municipalities_open(world):
    world.config["MONITOR_CLOCK"] = lambda: PHASES["after"][0]
    html = world.test_client().get("/skift?q=oden").get_data(as_text=True)
    folded = html[html.index('id="others-h"'):html.index('id="legend-h"')]
    assert '<details class="fold" data-status="green" open>' in folded and 'id="kommune-461"' in folded
    assert 'id="kommune-101"' not in folded
    assert "1 af de øvrige kommuner passer til søgningen." in text(folded)
    red = world.test_client().get("/skift?q=gentofte").get_data(as_text=True)
    assert 'Blandt de røde og gule øverst: <a href="#kommune-157">Gentofte</a>' in red


def test_a_chosen_municipality_is_shown_first_and_remembered_in_a_cookie(world):
    world.config["MONITOR_CLOCK"] = lambda: PHASES["after"][0]
    client = world.test_client()
    response = client.get("/skift?kommune=0147")
    assert "skift_kommune=147" in response.headers["Set-Cookie"]
    chosen = response.get_data(as_text=True).split('id="din-kommune"')[1].split("</section>")[0]
    assert "Frederiksberg" in chosen and "1 tavs aftale" in text(chosen)
    again = client.get("/skift").get_data(as_text=True)  # the cookie, no parameter
    assert "Frederiksberg" in again.split('id="din-kommune"')[1].split("</section>")[0]
    assert 'Din kommune: <a href="#din-kommune">Frederiksberg</a>' in again
    forgotten = client.get("/skift?kommune=")
    assert "skift_kommune=;" in forgotten.headers["Set-Cookie"]


def test_an_unknown_municipality_code_is_said_and_not_remembered(world):
    response = world.test_client().get("/skift?kommune=999")
    assert response.status_code == 200
    assert "skift_kommune" not in response.headers.get("Set-Cookie", "")
    assert "Der er ingen kommune med koden 999." in response.get_data(as_text=True)

"""What the pages say about ratings under method 2020.12: an inconclusive day still shows its hints
and the newest conclusive score with its date; the method page lists the versions and outages."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
import time_machine
from sqlalchemy import delete

from monitor import create_app, daytable
from monitor.models import AgreementDay
from monitor.rating.service import store_snapshot
from tests.rating_helpers import AS_OF, add_agreement, small_country

NOON = dt.datetime(2020, 11, 28, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))  # AS_OF in Copenhagen
GAP = AS_OF - dt.timedelta(days=3)


@pytest.fixture
def gap_client(session, engine, settings):  # type: ignore[no-untyped-def]
    """København rated conclusively a month ago; today a day of the window has no data at all."""
    small_country(session)
    add_agreement(session, "c-waiting", it_system="sys-3", services=("SF1470",), status="pending")
    session.commit()
    store_snapshot(engine, settings, AS_OF - dt.timedelta(days=30), now=NOON)
    session.execute(delete(AgreementDay).where(AgreementDay.day == GAP))
    daytable.refresh_days(session, GAP, GAP)
    session.commit()
    store_snapshot(engine, settings, AS_OF, now=NOON)  # today's, as the daily run stores it (the pages compute none)
    app = create_app(settings)
    app.config.update(TESTING=True)
    with time_machine.travel(NOON, tick=False):  # the pages show "today"
        yield app.test_client()
    app.extensions["monitor"].engine.dispose()


def test_an_inconclusive_day_shows_the_newest_conclusive_score_and_every_hint(gap_client):
    html = gap_client.get("/kommune/101").get_data(as_text=True)
    assert "Ikke afgørende:" in html and "2020-11-25" in html  # the missing day is named
    assert "Seneste afgørende score:" in html and "29.10.2020" in html
    # The hints: the unused agreement and silent IT system, named by system and service, and the
    # agreement waiting for approval; the agreement UUIDs only in a detail.
    assert "System sys-2 (Leverandør A/S): SF1520" in html
    assert "venter på kommunens godkendelse: System sys-3 (Leverandør A/S): SF1470" in html
    assert "<summary>Aftalernes UUID</summary>" in html and "<code>b-silent</code>" in html
    assert "Ingen forslag" not in html


def test_the_overview_shows_the_newest_conclusive_score_beside_ikke_afgoerende(gap_client):
    html = gap_client.get("/").get_data(as_text=True)
    assert "ikke afgørende; senest" in html and "(29.10.2020)" in html
    english = gap_client.get("/?lang=en").get_data(as_text=True)
    assert "inconclusive; last" in english and "(29 Oct 2020)" in english


def test_the_method_page_lists_every_version_and_the_planned_outages(session, engine, settings):
    start = dt.datetime(2020, 11, 28, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    configured = dataclasses.replace(settings, cutover=dataclasses.replace(
        settings.cutover, start=start, end=start + dt.timedelta(hours=34)))
    app = create_app(configured)
    app.config.update(TESTING=True)
    html = app.test_client().get("/metode").get_data(as_text=True)
    assert "Metodeversioner" in html and "2020.12" in html and "2020.11" in html
    assert html.index("2020.12") < html.index("Første version")
    assert 'id="nedetid"' in html and "Skift af driftscenter" in html and "28.11.2020 kl. 08:00 CET" in html
    english = app.test_client().get("/metode?lang=en").get_data(as_text=True)
    assert "Method versions" in english and "First version" in english
    app.extensions["monitor"].engine.dispose()


def test_an_all_inconclusive_overview_says_what_is_missing_and_how_to_fix_it_never_the_demo(gap_client):
    html = gap_client.get("/").get_data(as_text=True)
    assert "Ingen kommune har en afgørende score for" in html and "Kaldsdata mangler for 1 dag" in html
    assert "monitor import calls FIL" in html and "[[rating.planned_outages]]" in html
    assert "monitor demo" not in html


def test_an_all_inconclusive_overview_sorts_and_charts_by_the_last_conclusive_score_and_the_csv_carries_it(gap_client):
    html = gap_client.get("/?sort=score&dir=desc").get_data(as_text=True)
    first_row = re.search(r'<tr data-code="(\d+)"', html)
    assert first_row and first_row.group(1) == "101"  # the only municipality with an earlier conclusive score
    assert "ingen data" not in html.lower()
    assert "1 kommune uden afgørende score i dag er med med sin seneste afgørende score." in html
    rows = gap_client.get("/oversigt.csv").get_data(as_text=True).splitlines()
    assert rows[0].endswith(";Seneste afgørende score;Beregnet for")
    [copenhagen] = [r for r in rows if r.startswith("101;")]
    assert re.search(r";\d+,\d{4};2020-10-29$", copenhagen), copenhagen


def test_the_method_page_explains_the_scaling_to_30_days(client):
    page = client.get("/metode").get_data(as_text=True)
    assert "· 30 / 30</code>" in page and "Leddet · 30 / 30 regner kaldene i perioden på 30 dage om til 30 dage" in page

"""The pages: each renders on an empty database and on demo data, says how fresh it is,
404s for unknown codes, exports CSV, carries the security headers and switches language."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine
from sqlalchemy import update

from monitor import create_app
from monitor.db import make_engine, session_factory
from monitor.models import Municipality, Notice, NoticeSource, NoticeUpdate
from monitor.web.security import HEADERS
from tests.auth_helpers import sign_in
from tests.pages_helpers import DEMO_NOW, PAGES, demo_settings, load_demo_world


@pytest.fixture
def demo_app(tmp_path, db_url):  # type: ignore[no-untyped-def]
    settings = demo_settings(tmp_path, db_url)
    engine = make_engine(settings.database.url)
    with time_machine.travel(DEMO_NOW, tick=True):  # the pages read the clock
        load_demo_world(engine, settings, DEMO_NOW)
        app = create_app(settings)
        app.config.update(TESTING=True)
        yield app, engine
    app.extensions["monitor"].engine.dispose()
    engine.dispose()


EMPTY_STATES = {
    "/": "Der er ingen vurderinger endnu",
    "/driftsstatus": "Ingen åbne driftsforstyrrelser eller vedligeholdelse lige nu",
    "/driftsstatus/serviceplatformen": "Ingen driftsmeddelelser om komponenten.",
    "/skift": "Der er ingen data om skiftet endnu",
    "/drift": "Ingen job har kørt endnu",
    "/metode": "Der er ingen gemte beregninger endnu",
    "/tilgaengelighed": "WCAG 2.1",
    "/kommune/101": "Kommunens indbyggertal",
}


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_on_an_empty_database_with_a_helpful_empty_state(client, path):
    sign_in(client)  # /drift is the operator's
    response = client.get(path)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<main" in html and 'lang="da"' in html
    if path == "/kommune/101":
        assert "København" in html
    elif path == "/":
        # The 98 reference municipalities are there, all inconclusive, so the overview lists them.
        assert "Ingen kommune har en afgørende score endnu" in html and "København" in html
    else:
        assert EMPTY_STATES[path] in html


def test_every_page_renders_with_demo_data_and_says_how_fresh_it_is(demo_app):
    app, _ = demo_app
    client = sign_in(app.test_client())
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        if path not in ("/metode", "/tilgaengelighed"):
            assert "Data til og med" in html, path
    overview = client.get("/").get_data(as_text=True)
    assert overview.count('href="/kommune/') == 98
    assert "åbne driftsmeddelelser" in overview or "åben driftsmeddelelse" in overview
    assert "<svg" in overview and "Antal kommuner pr. score" in overview
    for path in ("/", "/kommune/101", "/metode"):  # the colour rule beside every coloured score
        assert "Farven følger scoren, som den vises med én decimal" in client.get(path).get_data(as_text=True), path
    page = client.get("/kommune/101").get_data(as_text=True)
    for heading in ("Scorens tre dele", "Hvad vil hæve scoren?", "Historik", "Kald over tid", "It-systemer",
                    "Serviceaftaler", "Pris pr. kald", "Skift af driftscenter"):
        assert heading in page
    assert "CET" in client.get("/driftsstatus").get_data(as_text=True)


def test_a_redundant_agreement_is_marked_on_its_municipality_page(demo_app):
    app, _ = demo_app
    client = app.test_client()
    doc = client.get("/api/v1/ratings").get_json()
    with_redundant = [r["municipality"]["code"] for r in doc["ratings"]
                      if r["parts"]["service_agreements"]["inputs"]["redundant"]]
    assert with_redundant, "the demo has municipalities with redundant agreements"
    html = client.get(f"/kommune/{with_redundant[0]}").get_data(as_text=True)
    assert 'class="tag warn">Ja' in html
    assert "Luk dem" in html or "Luk den" in html  # the hint says what would raise the score


@pytest.mark.parametrize("code", ["999", "abc", "1", "12345"])
def test_an_unknown_municipality_code_is_a_404_page_that_helps(client, code):
    response = client.get(f"/kommune/{code}")
    assert response.status_code == 404
    assert "Find kommunen i oversigten" in response.get_data(as_text=True)


def test_a_four_digit_code_finds_the_municipality(client):
    assert client.get("/kommune/0101").status_code == 200


@pytest.mark.parametrize("path", ["/", "/kommune/101", "/api/v1/openapi.json", "/static/monitor.css", "/nowhere"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    for name, value in HEADERS.items():
        assert response.headers[name] == value
    csp = response.headers["Content-Security-Policy"]
    response.close()  # a static file response holds the file open until closed
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


def test_the_overview_csv_parses_with_one_row_per_municipality(demo_app):
    app, _ = demo_app
    client = app.test_client()
    response = client.get("/oversigt.csv")
    assert response.mimetype == "text/csv"
    assert client.get("/?format=csv").data == response.data
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == 98
    assert {r["Kode"] for r in rows} >= {"101", "860"}
    scored = [r for r in rows if r["Score"]]
    assert scored and all(1 <= float(r["Score"].replace(",", ".")) <= 10 for r in scored)
    api = {r["municipality"]["code"]: r["score"] for r in client.get("/api/v1/ratings").get_json()["ratings"]}
    assert all(abs(float(r["Score"].replace(",", ".")) - api[r["Kode"]]) < 1e-4 for r in scored)
    english = list(csv.DictReader(io.StringIO(client.get("/oversigt.csv?lang=en").data.decode("utf-8-sig"))))
    assert [r["Code"] for r in english] == [r["Kode"] for r in rows]
    assert all(abs(float(r["Score"]) - api[r["Code"]]) < 1e-4 for r in english if r["Score"])


def _row_codes(html: str) -> list[str]:
    return [chunk.split('"', 1)[0] for chunk in html.split('<tr data-code="')[1:]]


def test_the_overview_sorts_and_searches_by_query_parameters(demo_app):
    app, _ = demo_app
    client = app.test_client()
    by_code = _row_codes(client.get("/?sort=code&dir=asc").get_data(as_text=True))
    assert by_code == sorted(by_code) and len(by_code) == 98
    assert _row_codes(client.get("/?sort=code&dir=desc").get_data(as_text=True)) == by_code[::-1]
    scores = {r["municipality"]["code"]: r["score"] for r in client.get("/api/v1/ratings").get_json()["ratings"]}
    by_score = _row_codes(client.get("/?sort=score&dir=desc").get_data(as_text=True))
    known = [scores[c] for c in by_score if scores[c] is not None]
    assert known == sorted(known, reverse=True)
    assert all(scores[c] is None for c in by_score[len(known):]), "inconclusive results come last"
    assert _row_codes(client.get("/?q=aarhus").get_data(as_text=True)) == ["751"]
    assert _row_codes(client.get("/?q=0101").get_data(as_text=True)) == ["101"]
    assert "Ingen kommune matcher" in client.get("/?q=zzz").get_data(as_text=True)
    assert client.get("/?sort=nonsense&dir=sideways").status_code == 200


def test_lang_en_switches_to_english_and_is_remembered_in_a_cookie(client):
    response = client.get("/metode?lang=en")
    html = response.get_data(as_text=True)
    assert 'lang="en"' in html and "How the score is calculated" in html
    assert "lang=en" in response.headers["Set-Cookie"]
    assert 'lang="en"' in client.get("/metode").get_data(as_text=True)  # the cookie now decides
    assert 'lang="da"' in client.get("/metode?lang=da").get_data(as_text=True)


def test_a_new_rating_input_is_visible_on_the_next_request_despite_the_cache(demo_app):
    app, engine = demo_app
    client = app.test_client()
    assert "Kommunens indbyggertal er ukendt" not in client.get("/kommune/101").get_data(as_text=True)
    with session_factory(engine)() as session, session.begin():
        session.execute(update(Municipality).where(Municipality.code == "101").values(population=None))
    # The stored snapshot still holds; a fresh computation for a day without one shows the change.
    assert client.get("/kommune/101").status_code == 200
    page = client.get("/").get_data(as_text=True)
    assert page.count('href="/kommune/') == 98


def test_a_new_notice_appears_on_driftsstatus_at_once_and_its_title_is_escaped(client, session):
    assert "Ingen åbne driftsforstyrrelser" in client.get("/driftsstatus").get_data(as_text=True)
    now = dt.datetime(2020, 11, 28, 11, 0, tzinfo=dt.UTC)
    source = NoticeSource(name="Test", url="file.rss", kind="feed", last_success_at=now)
    session.add(source)
    session.flush()
    notice = Notice(source_id=source.id, upstream_id="x1", kind="incident", title="<script>alert(1)</script> SF1520",
                    status="investigating", started_at=now, updated_at=now)
    session.add(notice)
    session.flush()
    session.add(NoticeUpdate(notice_id=notice.id, status="investigating", at=now,
                             body_html="<p>Vi <strong>undersøger</strong>.</p>"))
    session.commit()
    html = client.get("/driftsstatus").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; SF1520" in html and "<script>alert" not in html
    assert "<strong>undersøger</strong>" in html  # the sanitised body is rendered as HTML
    assert f'id="notice-{notice.id}"' in html
    assert "28.11.2020 kl. 12:00 CET" in html


def test_the_drift_menu_item_is_shown_to_operators_only_even_from_the_page_cache(client):
    for path in ("/", "/driftsstatus", "/metode"):
        assert 'href="/drift"' not in client.get(path).get_data(as_text=True), path
    sign_in(client)
    for path in ("/", "/driftsstatus", "/metode"):
        assert 'href="/drift"' in client.get(path).get_data(as_text=True), path

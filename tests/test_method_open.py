"""The method open to the people it rates: KOMBIT's rules told apart from this version's choices on
/metode and in GET /api/v1/method, missing Adgangsstyring data shown as missing, and the what-if
view (/metode/hvad-hvis) that recomputes the ranking with other weights and stores nothing."""

from __future__ import annotations

import dataclasses
import re

import pytest
import time_machine
from sqlalchemy import func, select

from monitor import create_app
from monitor.models import RatingRun
from monitor.rating.method import Parameters
from monitor.rating.service import rate_and_store, ratings_document, today
from monitor.rating.whatif import kendall_tau, parameters_from, what_if
from tests.pages_helpers import DEMO_NOW, demo_settings, load_demo_world
from tests.rating_helpers import AS_OF, set_municipality, small_country

KOMBIT = {"parts", "service_agreements", "calls_per_citizen", "it_systems_with_calls", "scale", "qualification"}
CHOSEN = {"sub_weight_volume", "sub_weight_in_use", "sub_weight_access_control", "active_ref", "cpc_lo", "cpc_hi",
          "redundant_after_days", "window_days", "it_systems_share", "unknown_access_control"}


def test_the_api_marks_kombits_rules_given_and_this_versions_choices_chosen_each_with_why(client):
    doc = client.get("/api/v1/method").get_json()
    assert doc["version"] == "2020.12"
    assert doc["weights"] == {"service_agreements": 0.3, "calls_per_citizen": 0.2, "it_systems_with_calls": 0.5}
    origins = {p["name"]: p["origin"] for p in doc["parameters"]}
    assert {n for n, o in origins.items() if o == "given"} == KOMBIT
    assert {n for n, o in origins.items() if o == "chosen"} == CHOSEN
    values = {p["name"]: p["value"] for p in doc["parameters"]}
    assert values["active_ref"] == 200 and values["redundant_after_days"] == 90 and values["cpc_hi"] == 50
    assert (values["sub_weight_volume"], values["sub_weight_in_use"], values["sub_weight_access_control"]) == (
        0.4, 0.4, 0.2)
    assert all(p["why"] and p["why_da"] for p in doc["parameters"])


def test_the_method_page_marks_the_same_elements_as_the_api(client):
    html = client.get("/metode").get_data(as_text=True)
    api = client.get("/api/v1/method").get_json()["parameters"]
    rows = dict(re.findall(r'<tr id="element-([a-z_]+)">(.*?)</tr>', html, re.S))
    assert list(rows) == [p["name"] for p in api]
    for p in api:
        mark = "Givet af KOMBIT" if p["origin"] == "given" else "Valgt i denne version"
        assert mark in rows[p["name"]], p["name"]
        assert p["why_da"].replace('"', "&#34;") in rows[p["name"]]
    assert "Aftaler for fuld volumen" in rows["active_ref"] and ">200<" in rows["active_ref"]
    english = client.get("/metode?lang=en").get_data(as_text=True)
    assert "Given by KOMBIT" in english and "Chosen in this version" in english and "About the number" in english


def test_with_no_adgangsstyring_data_anywhere_the_page_and_the_api_say_it_is_missing_and_how_to_import(
        client, session):
    missing = client.get("/api/v1/method").get_json()["missing_data"]
    assert [m["name"] for m in missing] == ["user_access_control"]
    assert "monitor import municipalities" in missing[0]["how"]
    html = client.get("/metode").get_data(as_text=True)
    assert "Data mangler: Adgangsstyring for brugere." in html and "monitor import municipalities FIL" in html
    set_municipality(session, "101", user_access_control=False)
    session.commit()
    assert client.get("/api/v1/method").get_json()["missing_data"] == []
    assert "Data mangler" not in client.get("/metode").get_data(as_text=True)


def test_an_unknown_adgangsstyring_scores_as_not_implemented_and_reads_ikke_oplyst(session, engine, settings):
    small_country(session)
    set_municipality(session, "101", user_access_control=None)
    session.commit()
    unknown = ratings_document(session, settings, AS_OF)["ratings"][0]
    set_municipality(session, "101", user_access_control=False)
    session.commit()
    no = ratings_document(session, settings, AS_OF)["ratings"][0]
    assert unknown["score"] == no["score"] and unknown["score"] is not None
    set_municipality(session, "101", user_access_control=None)
    session.commit()
    app = create_app(settings)
    app.config.update(TESTING=True)
    with time_machine.travel(DEMO_NOW.replace(year=2020, month=11, day=28, hour=12), tick=False):
        html = app.test_client().get("/kommune/101").get_data(as_text=True)
    app.extensions["monitor"].engine.dispose()
    assert "Adgangsstyring for brugere: ikke oplyst (tæller som ikke implementeret)." in html
    assert "Ingen kommune har oplysningen endnu." in html
    assert "Adgangsstyring for brugere er ikke implementeret" not in html


@pytest.fixture
def demo(tmp_path, sqlite_url):  # type: ignore[no-untyped-def]
    """The small demo country at DEMO_NOW, rated today and a month ago, with the app over it."""
    settings_ = demo_settings(tmp_path, sqlite_url)
    app = create_app(settings_)
    app.config.update(TESTING=True)
    engine = app.extensions["monitor"].engine
    with time_machine.travel(DEMO_NOW, tick=False):
        load_demo_world(engine, settings_, DEMO_NOW)
        yield app, settings_, engine
    engine.dispose()


OTHER = {"service_agreements": "0.5", "calls_per_citizen": "0.3", "it_systems_with_calls": "0.2",
         "active_ref": "100", "cpc_lo": "1", "cpc_hi": "40", "redundant_after_days": "60", "window_days": "28"}


def test_the_what_if_scores_are_those_monitor_rate_stores_with_the_same_parameters(demo):
    app, settings, engine = demo
    as_of = today(DEMO_NOW)
    params, invalid = parameters_from(OTHER, Parameters.from_mapping(settings.rating.parameters()))
    assert invalid == []
    with app.app_context():
        session = app.extensions["monitor"].sessions()
        today_doc = ratings_document(session, settings, as_of)
        result = what_if(session, settings, params, today_doc)
        session.close()
    rating = dataclasses.replace(
        settings.rating, method_version="what-if", active_ref=100.0, cpc_lo=1.0, cpc_hi=40.0, redundant_after_days=60,
        window_days=28, weights=dataclasses.replace(settings.rating.weights, service_agreements=0.5,
                                                    calls_per_citizen=0.3, it_systems_with_calls=0.2))
    stored = rate_and_store(engine, dataclasses.replace(settings, rating=rating), as_of)
    assert stored["method"]["version"] == "what-if"
    assert {r.code: (r.score, r.rank) for r in result.rows} == {
        d["municipality"]["code"]: (d["score"], d["rank"]) for d in stored["ratings"]}
    assert {r.code: (r.score_today, r.rank_today) for r in result.rows} == {
        d["municipality"]["code"]: (d["score"], d["rank"]) for d in today_doc["ratings"]}
    assert result.compared > 50 and result.tau is not None and result.tau < 1
    assert result.largest and all(abs(r.moved or 0) >= abs(result.largest[-1].moved or 0) for r in result.largest)


def test_the_what_if_page_shows_both_rankings_tau_and_the_largest_changes_and_stores_nothing(demo):
    app, settings, engine = demo
    client = app.test_client()
    with app.app_context():
        session = app.extensions["monitor"].sessions()
        runs = session.scalar(select(func.count()).select_from(RatingRun))
        session.close()
    response = client.get("/metode/hvad-hvis", query_string=OTHER)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Kendalls tau mellem dagens placeringer og disse:" in html
    assert "De største ændringer i placering" in html and "Placering i dag" in html
    assert html.count('<tr><th scope="row"><a href="/kommune/') >= 98
    assert 'name="active_ref" value="100"' in html
    with app.app_context():
        session = app.extensions["monitor"].sessions()
        assert session.scalar(select(func.count()).select_from(RatingRun)) == runs
        session.close()
    form = client.get("/metode/hvad-hvis").get_data(as_text=True)  # the form alone, with today's values
    assert 'name="service_agreements" value="0.3"' in form and "Kendalls tau" not in form


@pytest.mark.parametrize(("args", "message"), [
    ({"active_ref": "many"}, "Aftaler for fuld volumen: ikke et tal."),
    ({"active_ref": "0"}, "Aftaler for fuld volumen: skal ligge mellem 1 og 100000."),
    ({"window_days": "1e9"}, "Periode (dage): skal ligge mellem 1 og 90."),
    ({"window_days": "2.5"}, "Periode (dage): skal være et helt tal."),
    ({"cpc_lo": "nan"}, "Kald pr. borger, nedre grænse: ikke et tal."),
    ({"cpc_lo": "60", "cpc_hi": "50"}, "Den nedre grænse for kald pr. borger skal være mindre end den øvre."),
    ({"service_agreements": "0.9"}, "De tre vægte skal tilsammen give 1."),
    ({"sub_weight_volume": "0.5"}, "De tre delvægte for serviceaftaler skal tilsammen give 1."),
    ({"active_ref": "9" * 500}, "Aftaler for fuld volumen: ikke et tal."),
])
def test_a_bad_what_if_value_answers_400_with_the_form_and_a_clear_message(client, args, message):
    response = client.get("/metode/hvad-hvis", query_string=args)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html and '<form method="get"' in html


def test_a_decimal_comma_is_a_decimal_point():
    params, invalid = parameters_from({"service_agreements": "0,25", "calls_per_citizen": "0,25",
                                       "it_systems_with_calls": "0,5"}, Parameters())
    assert invalid == [] and params.weights["service_agreements"] == 0.25


@pytest.mark.parametrize(("xs", "ys", "tau"), [
    ([1, 2, 3, 4], [1, 2, 3, 4], 1.0),
    ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
    ([1, 2, 3], [1, 3, 2], 1 / 3),
    # tau-b with a tie in ys: (C − D) / √((C + D + Tx)(C + D + Ty)) = (2 − 0) / √(2 · 3)
    ([1, 2, 3], [1, 2, 2], 2 / 6 ** 0.5),
    ([1, 1], [2, 3], None),
])
def test_kendalls_tau_b(xs, ys, tau):
    assert kendall_tau(xs, ys) == (None if tau is None else pytest.approx(tau))
